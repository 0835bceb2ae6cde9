using System.Buffers;
using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// ConvTranspose: the adjoint of Conv's input gradient. With W [C, M/g, k...] each group computes
/// col = W_gᵀ·X_g and scatters it with col2im, using the convolution geometry that maps the
/// output Y (as the convolution's input) onto X (as its output). Backward reuses im2col of dY.
/// </summary>
[OnnxOp("ConvTranspose")]
public sealed class ConvTransposeKernel : OpKernel
{
    private readonly WindowAttributes _window;
    private readonly int _group;
    private readonly int[]? _outputPadding, _outputShape;

    public ConvTransposeKernel(Node node, KernelContext context) : base(node, context)
    {
        _window = WindowAttributes.Parse(node);
        long group = node.GetInt("group", 1);
        if (group < 1 || group > int.MaxValue) throw node.Error(DiagnosticCodes.InvalidAttribute, $"group must be >= 1, got {group}");
        _group = (int)group;
        _outputPadding = WindowAttributes.ToInts(node, "output_padding", 0);
        _outputShape = WindowAttributes.ToInts(node, "output_shape", 0);
    }

    private sealed record Shapes(int N, int C, int M, int Cg, int Mg, int Kt, WindowGeometry G, int[] OutputShape);

    private Shapes Resolve(Tensor x, Tensor w, Tensor? b)
    {
        if (x.Rank < 3 || x.Rank > 5) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"X must be [N, C, spatial...] with 1 to 3 spatial axes, got {x.ShapeString}");
        if (w.Rank != x.Rank) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"W {w.ShapeString} must have the rank of X {x.ShapeString}");
        int n = x.Shape[0], c = x.Shape[1], r = x.Rank - 2;
        if (w.Shape[0] != c || c % _group != 0)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"W {w.ShapeString} must start with X's {c} channels, divisible by group {_group}");
        int mg = w.Shape[1], m = mg * _group, cg = c / _group;
        var kernel = w.Shape[2..];
        if (_window.KernelShape is { } ks && !ks.AsSpan().SequenceEqual(kernel))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"kernel_shape [{string.Join(",", ks)}] does not match W {w.ShapeString}");
        if (b is not null && (b.Rank != 1 || b.Shape[0] != m))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"B must be [{m}], got {b.ShapeString}");
        var strides = _window.StridesFor(r);
        var dilations = _window.DilationsFor(r);
        var outPad = _outputPadding ?? new int[r];
        if (outPad.Length != r) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"output_padding has {outPad.Length} values for {r} spatial axes");
        int[]? requested = _outputShape is null ? null : _outputShape.Length == r ? _outputShape
            : _outputShape.Length == r + 2 ? _outputShape[2..]
            : throw Node.Error(DiagnosticCodes.ShapeMismatch, $"output_shape has {_outputShape.Length} values for {r} spatial axes");
        var outSpatial = new int[r];
        var padBegin = new int[r];
        for (int i = 0; i < r; i++)
        {
            // 64-bit: strides, dilations, kernel and pads come from the model, each up to 2^31 - 1.
            long inSize = x.Shape[2 + i];
            long dk = (long)(kernel[i] - 1) * dilations[i] + 1;
            long full = strides[i] * (inSize - 1) + outPad[i] + dk; // output size with no padding at all
            long size;
            if (requested is not null || _window.AutoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                size = requested is not null ? requested[i] : inSize * strides[i];
                long total = full - size;
                // The odd unit of padding goes to the end for SAME_UPPER, to the beginning otherwise.
                // Floor division: a negative total (output_shape larger than the full output) grows the end.
                long half = (long)Math.Floor(total / 2.0);
                long begin = _window.AutoPad == "SAME_UPPER" ? half : total - half;
                if (begin is < int.MinValue or > int.MaxValue)
                    throw Node.Error(DiagnosticCodes.TensorTooLarge, $"the padding of spatial axis {i} ({begin}) does not fit 32 bits");
                padBegin[i] = (int)begin;
            }
            else if (_window.AutoPad == "VALID")
                size = full;
            else
            {
                var pads = _window.Pads;
                if (pads is not null && pads.Length != 2 * r) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"pads has {pads.Length} values for {r} spatial axes");
                padBegin[i] = pads?[i] ?? 0;
                size = full - padBegin[i] - (pads?[i + r] ?? 0);
            }
            if (size < 0) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"output size {size} along spatial axis {i} is negative");
            outSpatial[i] = ShapeOpHelpers.CheckedDim(Node, size);
        }
        // The convolution whose input gradient this is reads Y and produces X.
        var g = new WindowGeometry(outSpatial, x.Shape[2..], kernel, strides, dilations, padBegin);
        var outShape = new[] { n, m }.Concat(outSpatial).ToArray();
        return new Shapes(n, c, m, cg, mg, mg * g.KernelSize, g, outShape);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var w = inputs[1]!;
        var b = inputs.Length > 2 ? inputs[2] : null;
        var s = Resolve(x, w, b);
        var g = s.G;
        int pIn = g.OutSize, pOut = g.InSize;
        // A recycled array (OutputBuffers) is cleared: the column scatter below accumulates into y.
        var y = OutputBuffers.Floats(s.OutputShape);
        Array.Clear(y);
        var xf = x.Floats;
        var wf = w.Floats;
        var bias = b?.Floats;
        bool pointwise = g.IsPointwise;
        float[]? col = pointwise ? null : ArrayPool<float>.Shared.Rent(s.Kt * pIn);
        try
        {
            for (int n = 0; n < s.N; n++)
                for (int grp = 0; grp < _group; grp++)
                {
                    var wg = wf.AsSpan(grp * s.Cg * s.Kt, s.Cg * s.Kt);
                    var xSlice = xf.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn);
                    var ySlice = y.AsSpan((n * s.M + grp * s.Mg) * pOut, s.Mg * pOut);
                    Im2Col.TransposedProduct(wg, s.Kt, s.Cg, xSlice, pIn, s.Mg, g, pointwise, col, ySlice, Context.Parallel);
                    if (bias is not null)
                        for (int m = 0; m < s.Mg; m++)
                        {
                            var row = ySlice.Slice(m * pOut, pOut);
                            System.Numerics.Tensors.TensorPrimitives.Add(row, bias[grp * s.Mg + m], row);
                        }
                }
        }
        finally
        {
            if (col is not null) ArrayPool<float>.Shared.Return(col);
        }
        return [Tensor.FromFloats(y, s.OutputShape)];
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var x = args.Inputs[0]!;
        var w = args.Inputs[1]!;
        var b = args.Inputs.Length > 2 ? args.Inputs[2] : null;
        var s = Resolve(x, w, b);
        var g = s.G;
        int pIn = g.OutSize, pOut = g.InSize;
        var dy = args.OutputGrads[0]?.Floats ?? new float[TensorLimits.CheckedElementCount(DataType.Float, s.OutputShape, "output")];
        var xf = x.Floats;
        var wf = w.Floats;
        var result = new Tensor?[args.Inputs.Length];
        bool needX = args.NeedInputGrad[0], needW = args.NeedInputGrad[1];
        var dx = needX ? new float[x.Length] : null;
        var dw = needW ? new float[w.Length] : null;
        bool pointwise = g.IsPointwise;
        float[]? col = pointwise || !(needX || needW) ? null : ArrayPool<float>.Shared.Rent(s.Kt * pIn);
        try
        {
            if (needX || needW)
                for (int n = 0; n < s.N; n++)
                    for (int grp = 0; grp < _group; grp++)
                    {
                        ReadOnlySpan<float> dySlice = dy.AsSpan((n * s.M + grp * s.Mg) * pOut, s.Mg * pOut);
                        ReadOnlySpan<float> cols = dySlice;
                        if (!pointwise)
                        {
                            Im2Col.Forward(dySlice, s.Mg, g, col, Context.Parallel);
                            cols = col.AsSpan(0, s.Kt * pIn);
                        }
                        if (dx is not null)
                            Sgemm.Multiply(false, false, s.Cg, pIn, s.Kt, 1f, wf.AsSpan(grp * s.Cg * s.Kt, s.Cg * s.Kt), s.Kt, cols, pIn,
                                0f, dx.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn), pIn, Context.Parallel);
                        if (dw is not null)
                            Sgemm.Multiply(false, true, s.Cg, s.Kt, pIn, 1f, xf.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn), pIn, cols, pIn,
                                n == 0 ? 0f : 1f, dw.AsSpan(grp * s.Cg * s.Kt, s.Cg * s.Kt), s.Kt, Context.Parallel);
                    }
        }
        finally
        {
            if (col is not null) ArrayPool<float>.Shared.Return(col);
        }
        if (dx is not null) result[0] = Tensor.FromFloats(dx, x.Shape);
        if (dw is not null) result[1] = Tensor.FromFloats(dw, w.Shape);
        if (b is not null && args.NeedInputGrad.Length > 2 && args.NeedInputGrad[2])
            result[2] = Tensor.FromFloats(ConvKernel.ChannelSums(dy, s.N, s.M, pOut), s.M);
        return result;
    }
}
