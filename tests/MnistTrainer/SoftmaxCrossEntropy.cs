namespace QuantBuild.MnistTrainer;

/// <summary>
/// Mean softmax cross-entropy over a batch of logits, and its gradient with respect to the logits
/// (the seed of the engine's backward pass). Accumulates in double: the loss is only reported,
/// and the gradient per row is (softmax − one-hot) / batch.
/// </summary>
public static class SoftmaxCrossEntropy
{
    public static (double Loss, int Correct, Tensor Gradient) Evaluate(Tensor logits, ReadOnlySpan<byte> labels)
    {
        int batch = logits.Shape[0], classes = logits.Shape[1];
        if (labels.Length != batch) throw new ArgumentException($"{labels.Length} labels for a batch of {batch}");
        var z = logits.Floats;
        var grad = new float[z.Length];
        var probabilities = new double[classes];
        double totalLoss = 0;
        int correct = 0;
        for (int b = 0; b < batch; b++)
        {
            var row = z.AsSpan(b * classes, classes);
            int argmax = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[argmax]) argmax = c;
            if (argmax == labels[b]) correct++;
            // Subtract the row maximum so exp never overflows.
            double max = row[argmax], sum = 0;
            for (int c = 0; c < classes; c++) sum += probabilities[c] = Math.Exp(row[c] - max);
            totalLoss += Math.Log(sum) - (row[labels[b]] - max);
            for (int c = 0; c < classes; c++)
                grad[b * classes + c] = (float)((probabilities[c] / sum - (c == labels[b] ? 1.0 : 0.0)) / batch);
        }
        return (totalLoss / batch, correct, Tensor.FromFloats(grad, batch, classes));
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
        return best;
    }
}
