// Compares QuantBuild's logits for a few held-out digits with ONNX Runtime's on the exported model.
// Usage: node tests/MnistTrainer/ort-check.js <model.onnx> <check.json from MnistTrainer --ort-check> [onnxruntime-node dir]
// Exits non-zero when the two runtimes disagree by more than 1e-4 or pick a different class.
'use strict';
const fs = require('fs');
const [modelPath, checkPath, ortDir] = process.argv.slice(2);
if (!modelPath || !checkPath) {
  console.error('usage: node ort-check.js <model.onnx> <check.json> [onnxruntime-node dir]');
  process.exit(2);
}
const ort = require(ortDir || 'onnxruntime-node');

(async () => {
  const check = JSON.parse(fs.readFileSync(checkPath, 'utf8'));
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const input = new ort.Tensor('float32', Float32Array.from(check.input), check.shape);
  const result = await session.run({ input });
  const ortLogits = result.logits.data;
  const qbLogits = check.logits;
  if (ortLogits.length !== qbLogits.length) throw new Error(`ORT gave ${ortLogits.length} logits, QuantBuild ${qbLogits.length}`);
  let maxDiff = 0, sameClass = 0;
  const classes = 10, count = qbLogits.length / classes;
  const argmax = (a, o) => { let b = 0; for (let c = 1; c < classes; c++) if (a[o + c] > a[o + b]) b = c; return b; };
  for (let i = 0; i < qbLogits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ortLogits[i] - qbLogits[i]));
  for (let n = 0; n < count; n++) if (argmax(ortLogits, n * classes) === argmax(qbLogits, n * classes)) sameClass++;
  console.log(`digits ${count}, max |logit diff| ${maxDiff.toExponential(3)}, same class ${sameClass}/${count}`);
  process.exit(maxDiff <= 1e-4 && sameClass === count ? 0 : 1);
})().catch(e => { console.error(e); process.exit(1); });
