using QuantBuild.Tensors;

namespace QuantBuild.Graph.Transforms;

/// <summary>
/// Folds an inference-mode BatchNormalization into the Conv or Gemm that feeds it:
/// W' = W·γ/σ per output channel, b' = (b − μ)·γ/σ + β with σ = sqrt(var + ε).
/// Quantizers must see the folded weights: choosing weight ranges before folding would pick scales
/// for a tensor that never runs.
/// </summary>
public static class BatchNormFolding
{
    /// <returns>the number of BatchNormalization nodes folded</returns>
    public static int Apply(ModelGraph graph)
    {
        int folded = 0;
        var consumers = graph.Consumers();
        var producers = graph.Producers();
        foreach (var bn in graph.Nodes.Where(n => n.OpType == "BatchNormalization" && n.Domain.Length == 0).ToList())
        {
            if (bn.Outputs.Count > 1 && bn.Outputs.Skip(1).Any(o => o.Length > 0)) continue; // training outputs requested
            if (bn.GetInt("training_mode", 0) != 0 || bn.GetInt("spatial", 1) != 1) continue;
            if (!producers.TryGetValue(bn.Inputs[0], out var producer)) continue;
            if (producer.OpType is not ("Conv" or "Gemm")) continue;
            if (!consumers.TryGetValue(bn.Inputs[0], out var readers) || readers.Count != 1 || graph.IsGraphOutput(bn.Inputs[0])) continue;
            var paramNames = bn.Inputs.Skip(1).Take(4).ToArray();
            if (paramNames.Length != 4 || !paramNames.All(graph.IsConstant)) continue;
            if (!producer.HasInput(1) || !graph.IsConstant(producer.Inputs[1])) continue;

            var gamma = graph.Initializers[paramNames[0]].ToFloatArray();
            var beta = graph.Initializers[paramNames[1]].ToFloatArray();
            var mean = graph.Initializers[paramNames[2]].ToFloatArray();
            var variance = graph.Initializers[paramNames[3]].ToFloatArray();
            float epsilon = bn.GetFloat("epsilon", 1e-5f);
            var weight = graph.Initializers[producer.Inputs[1]];
            if (weight.Type != DataType.Float) continue;

            int channels = gamma.Length;
            // Mismatched parameter lengths are left to the BatchNormalization kernel, which reports them (QB2003).
            if (channels == 0 || beta.Length != channels || mean.Length != channels || variance.Length != channels) continue;
            // Per output channel factor k = γ/σ. Gemm's output channel is the N axis of op(B).
            var factor = new double[channels];
            for (int c = 0; c < channels; c++) factor[c] = gamma[c] / Math.Sqrt((double)variance[c] + epsilon);

            float[] newWeight;
            if (producer.OpType == "Conv")
            {
                if (weight.Rank == 0 || weight.Shape[0] != channels) continue;
                newWeight = (float[])weight.Floats.Clone();
                int perChannel = weight.Length / channels;
                for (int c = 0; c < channels; c++)
                    for (int i = 0; i < perChannel; i++)
                        newWeight[c * perChannel + i] = (float)(newWeight[c * perChannel + i] * factor[c]);
            }
            else
            {
                if (weight.Rank != 2 || producer.GetInt("transA", 0) != 0) continue;
                bool transB = producer.GetInt("transB", 0) != 0;
                int n = transB ? weight.Shape[0] : weight.Shape[1];
                if (n != channels) continue;
                float alpha = producer.GetFloat("alpha", 1f);
                newWeight = (float[])weight.Floats.Clone();
                int rows = weight.Shape[0], cols = weight.Shape[1];
                for (int r = 0; r < rows; r++)
                    for (int col = 0; col < cols; col++)
                    {
                        int c = transB ? r : col;
                        newWeight[r * cols + col] = (float)(newWeight[r * cols + col] * factor[c] * alpha);
                    }
                producer.SetFloat("alpha", 1f);
            }

            // Existing bias (Gemm's C must be per-channel or scalar to fold into).
            var bias = new double[channels];
            if (producer.HasInput(2))
            {
                if (!graph.IsConstant(producer.Inputs[2])) continue;
                var b = graph.Initializers[producer.Inputs[2]].ToFloatArray();
                double scaleC = producer.OpType == "Gemm" ? producer.GetFloat("beta", 1f) : 1.0;
                if (b.Length == channels) for (int c = 0; c < channels; c++) bias[c] = b[c] * scaleC;
                else if (b.Length == 1) for (int c = 0; c < channels; c++) bias[c] = b[0] * scaleC;
                else continue;
            }
            var newBias = new float[channels];
            for (int c = 0; c < channels; c++)
                newBias[c] = (float)((bias[c] - mean[c]) * factor[c] + beta[c]);

            var weightName = graph.UniqueName(producer.Inputs[1] + "_bnfolded");
            graph.Initializers[weightName] = Tensor.FromFloats(newWeight, weight.Shape);
            var biasName = graph.UniqueName(producer.Name + "_bias_bnfolded");
            graph.Initializers[biasName] = Tensor.FromFloats(newBias, channels);
            producer.Inputs[1] = weightName;
            if (producer.Inputs.Count < 3) producer.Inputs.Add(biasName); else producer.Inputs[2] = biasName;
            if (producer.OpType == "Gemm") producer.SetFloat("beta", 1f);

            // The producer now writes the BN's output name directly.
            producer.Outputs[0] = bn.Outputs[0];
            graph.Nodes.Remove(bn);
            folded++;
            consumers = graph.Consumers();
            producers = graph.Producers();
        }
        if (folded > 0) graph.RemoveDeadNodes();
        return folded;
    }
}
