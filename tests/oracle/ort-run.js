#!/usr/bin/env node
// ONNX Runtime oracle for QuantBuild's tests and benchmarks (Node 20, CommonJS).
//
//   node ort-run.js run   MODEL.onnx --input NAME=FILE.npy ... --out DIR
//       writes DIR/<output name>.npy per model output; characters that are invalid in file names on
//       any common OS (control chars and <>:"/\|?*) become '_', the same rule as `quantbuild run`.
//   node ort-run.js run   MODEL.onnx --input NAME=FILE.npy ... --out DIR --chunk K
//       the same in one process for many samples: every input is split along axis 0 into runs of K
//       rows (K=1 for a model with a fixed batch of 1), and each output is the runs' outputs
//       concatenated along axis 0. Task evaluations use it so a whole data set costs one Node start.
//   node ort-run.js bench MODEL.onnx --input NAME=FILE.npy ... [--warmup N] [--iters N]
//       prints {"median_ms","mean_ms","min_ms","iters"} for session.run on one thread.
//   --optimization disabled|basic|extended|all   (either command; default all)
//       ONNX Runtime's graph optimization level. 'disabled' runs a QDQ file as written (each
//       DequantizeLinear -> float op -> QuantizeLinear), which is the file's meaning on every CPU;
//       'all' lets ORT fuse QDQ groups into its integer kernels, whose results depend on the CPU
//       (AVX2 u8s8 kernels saturate 16-bit pair sums). Tests compare with the meaning; benchmarks
//       report both.
//
// onnxruntime-node comes from <repo>/.assets/node_modules (see tests/fetch-assets.sh).
'use strict';
const fs = require('fs');
const path = require('path');

const assetsModules = path.resolve(__dirname, '..', '..', '.assets', 'node_modules');

function fail(message) {
  process.stderr.write(`ort-run: error: ${message}\n`);
  process.exit(1);
}

function loadOrt() {
  const dir = path.join(assetsModules, 'onnxruntime-node');
  if (!fs.existsSync(dir)) fail(`onnxruntime-node not found at ${dir}; run tests/fetch-assets.sh`);
  return require(dir);
}

// ---- .npy (format version 1.0 written; 1.0/2.0/3.0 read), little-endian, C order -------------
const NPY_TYPES = {
  '<f4': { ort: 'float32', array: Float32Array },
  '<i8': { ort: 'int64', array: BigInt64Array },
  '<i4': { ort: 'int32', array: Int32Array },
  '|i1': { ort: 'int8', array: Int8Array },
  '|u1': { ort: 'uint8', array: Uint8Array },
  '|b1': { ort: 'bool', array: Uint8Array },
};
const DESCR_BY_ORT = Object.fromEntries(Object.entries(NPY_TYPES).map(([d, t]) => [t.ort, d]));

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') fail(`${file}: not a .npy file`);
  const major = buf[6];
  let headerLen, offset;
  if (major === 1) { headerLen = buf.readUInt16LE(8); offset = 10; }
  else if (major === 2 || major === 3) { headerLen = buf.readUInt32LE(8); offset = 12; }
  else fail(`${file}: unsupported .npy format version ${major}`);
  const header = buf.toString('latin1', offset, offset + headerLen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) fail(`${file}: malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') fail(`${file}: Fortran-order arrays are not supported`);
  const type = NPY_TYPES[descr.replace(/^=/, '<')] ?? NPY_TYPES[descr.replace(/^</, '|')];
  if (!type) fail(`${file}: unsupported dtype '${descr}' (supported: ${Object.keys(NPY_TYPES).join(' ')})`);
  const dims = shapeText.split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const bytes = count * type.array.BYTES_PER_ELEMENT;
  if (buf.length - start !== bytes) fail(`${file}: shape [${dims}] needs ${bytes} data bytes, file has ${buf.length - start}`);
  // Copy so the typed array is aligned whatever the header length.
  const data = new type.array(count);
  Buffer.from(data.buffer).set(buf.subarray(start, start + bytes));
  return { type: type.ort, dims, data };
}

function writeNpy(file, tensor) {
  const descr = DESCR_BY_ORT[tensor.type];
  if (!descr) fail(`output type '${tensor.type}' cannot be written as .npy`);
  const dims = Array.from(tensor.dims, Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so magic + length + header + '\n' is a multiple of 64, as numpy does.
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64);
  header += '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93; pre.write('NUMPY', 1, 'latin1'); pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = tensor.type === 'bool' ? Uint8Array.from(tensor.data, v => (v ? 1 : 0)) : tensor.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function safeFileName(name) {
  return name.replace(/[\x00-\x1f<>:"/\\|?*]/g, '_');
}

// ---- command line ------------------------------------------------------------------------------
function parseArgs(argv) {
  const [command, model, ...rest] = argv;
  if (!['run', 'bench'].includes(command) || !model) {
    fail('usage: ort-run.js run MODEL.onnx --input NAME=FILE.npy ... --out DIR\n' +
         '       ort-run.js bench MODEL.onnx --input NAME=FILE.npy ... [--warmup N] [--iters N]');
  }
  const args = { command, model, inputs: [], out: null, warmup: 10, iters: 50, chunk: 0, optimization: 'all' };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (value === undefined) fail(`${flag} needs a value`);
    i++;
    if (flag === '--input') {
      const eq = value.indexOf('=');
      if (eq <= 0) fail(`--input expects NAME=FILE.npy, got '${value}'`);
      args.inputs.push([value.slice(0, eq), value.slice(eq + 1)]);
    } else if (flag === '--out') args.out = value;
    else if (flag === '--chunk') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) fail(`--chunk expects a positive integer, got '${value}'`);
      args.chunk = n;
    } else if (flag === '--optimization') {
      if (!['disabled', 'basic', 'extended', 'all'].includes(value)) fail(`--optimization expects disabled|basic|extended|all, got '${value}'`);
      args.optimization = value;
    } else if (flag === '--warmup' || flag === '--iters') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (flag === '--iters' ? 1 : 0)) fail(`${flag} expects a non-negative integer, got '${value}'`);
      args[flag.slice(2)] = n;
    } else fail(`unknown option '${flag}'`);
  }
  if (command === 'run' && !args.out) fail('run needs --out DIR');
  return args;
}

// Splits every feed along axis 0 into runs of `chunk` rows and concatenates each output's runs.
async function runChunked(ort, session, feeds, args) {
  const names = Object.keys(feeds);
  const rows = feeds[names[0]].dims[0];
  for (const n of names) {
    if (feeds[n].dims.length === 0 || feeds[n].dims[0] !== rows) fail(`--chunk: every input needs the same axis-0 length (${names[0]} has ${rows}, ${n} has [${feeds[n].dims}])`);
  }
  if (rows % args.chunk !== 0) fail(`--chunk ${args.chunk} does not divide the ${rows} rows of the inputs`);
  const parts = Object.fromEntries(session.outputNames.map(n => [n, []]));
  for (let start = 0; start < rows; start += args.chunk) {
    const slice = {};
    for (const n of names) {
      const t = feeds[n];
      const rowSize = t.data.length / rows;
      slice[n] = new ort.Tensor(t.type, t.data.slice(start * rowSize, (start + args.chunk) * rowSize), [args.chunk, ...t.dims.slice(1)]);
    }
    const results = await session.run(slice);
    for (const n of session.outputNames) parts[n].push(results[n]);
  }
  fs.mkdirSync(args.out, { recursive: true });
  for (const n of session.outputNames) {
    const first = parts[n][0];
    const total = parts[n].reduce((a, p) => a + p.data.length, 0);
    const data = new first.data.constructor(total);
    let at = 0;
    for (const p of parts[n]) { data.set(p.data, at); at += p.data.length; }
    const dims = Array.from(first.dims, Number);
    dims[0] = dims[0] * parts[n].length;
    writeNpy(path.join(args.out, safeFileName(n) + '.npy'), { type: first.type, dims, data });
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.model)) fail(`model not found: ${args.model}`);
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: args.optimization,
    executionMode: 'sequential',
    logSeverityLevel: 3, // errors only: tf2onnx models trigger harmless unused-initializer warnings
  });
  const feeds = {};
  for (const [name, file] of args.inputs) {
    if (!session.inputNames.includes(name)) fail(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    if (!fs.existsSync(file)) fail(`input file not found: ${file}`);
    const t = readNpy(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const missing = session.inputNames.filter(n => !(n in feeds));
  if (missing.length) fail(`missing --input for: ${missing.join(', ')}`);

  if (args.command === 'run' && args.chunk > 0) {
    await runChunked(ort, session, feeds, args);
    return;
  }
  if (args.command === 'run') {
    const results = await session.run(feeds);
    fs.mkdirSync(args.out, { recursive: true });
    for (const name of session.outputNames) writeNpy(path.join(args.out, safeFileName(name) + '.npy'), results[name]);
    return;
  }
  for (let i = 0; i < args.warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < args.iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  process.stdout.write(JSON.stringify({ median_ms: median, mean_ms: mean, min_ms: sorted[0], iters: times.length }) + '\n');
}

main().catch(e => fail(e && e.message ? e.message : String(e)));
