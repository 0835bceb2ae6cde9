using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Fuzz;

/// <summary>
/// Model bytes → what <c>quantbuild run</c> and <c>quantize</c> do before they execute anything: decode,
/// import into the graph IR (initializers, Constant nodes, external data read from the model's folder),
/// operator validation, constant and BatchNormalization folding, shape inference, the opset upgrade,
/// engine construction; and the QDQ import <c>run --int</c> does.
/// </summary>
public sealed class OnnxTarget : FuzzTarget
{
    private readonly string _directory;
    private readonly string _modelPath;

    public OnnxTarget(string repoRoot)
    {
        Seeds = [File.ReadAllBytes(Path.Combine(repoRoot, "samples", "MnistDigits", "Models", "mnist.onnx")), .. OnnxSeeds.All()];
        // The model's folder for external data: a data file, one in a subfolder, and a symbolic link
        // (which the reader must refuse), so mutated locations, offsets and lengths meet real files.
        _directory = Directory.CreateTempSubdirectory("quantbuild-fuzz-onnx-").FullName;
        _modelPath = Path.Combine(_directory, "model.onnx");
        var payload = new byte[4096];
        for (int i = 0; i < payload.Length / 4; i++) BitConverter.TryWriteBytes(payload.AsSpan(i * 4), i * 0.5f);
        File.WriteAllBytes(Path.Combine(_directory, OnnxSeeds.DataFile), payload);
        Directory.CreateDirectory(Path.Combine(_directory, "sub"));
        File.WriteAllBytes(Path.Combine(_directory, "sub", "w.bin"), payload[..64]);
        File.CreateSymbolicLink(Path.Combine(_directory, "link.bin"), Path.Combine(_directory, OnnxSeeds.DataFile));
    }

    public override string Name => "onnx";

    public override IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>Names a mutated string field may take besides the model's own: operators, attributes, external-data keys and locations.</summary>
    private static readonly string[] Dictionary =
    [
        "Conv", "Relu", "Reshape", "Gemm", "Add", "Mul", "MatMul", "Constant", "Shape", "Gather", "Concat", "Slice", "Transpose", "Expand",
        "ConstantOfShape", "BatchNormalization", "Squeeze", "Unsqueeze", "Flatten", "MaxPool", "AveragePool", "Resize", "Pad", "Split", "Cast",
        "ReduceMean", "Softmax", "Range", "Tile", "Where", "Identity", "Dropout", "QuantizeLinear", "DequantizeLinear", "Loop", "If",
        "axis", "axes", "perm", "shape", "kernel_shape", "strides", "pads", "dilations", "group", "value", "to", "keepdims", "mode", "epsilon",
        "transA", "transB", "alpha", "beta", "allowzero", "split", "starts", "ends", "value_float", "value_floats", "value_int", "value_ints",
        "broadcast", "location", "offset", "length", OnnxSeeds.DataFile, "sub/w.bin", "link.bin", "missing.bin", "../" + OnnxSeeds.DataFile,
        "/etc/hostname", "sub/../" + OnnxSeeds.DataFile, "C:x", "-1", "18446744073709551616", "4096", "0", "ai.onnx", "com.microsoft",
    ];

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        switch (random.Next(10))
        {
            case < 6:
                ModelProto model;
                try { model = ModelProto.Parser.ParseFrom(input); }
                // The decoder's own failure modes on corrupt bytes (see OnnxModelFile.Parse): fall back to byte edits.
                catch (Exception e) when (e is Google.Protobuf.InvalidProtocolBufferException or IndexOutOfRangeException or ArgumentException)
                {
                    return ByteMutations.Mutate(input, corpus, random);
                }
                return Google.Protobuf.MessageExtensions.ToByteArray(ProtobufMutations.MutateMessage(model, random, Dictionary));
            case < 8:
                return ProtobufMutations.MutateWire(input, random);
            default:
                return ByteMutations.Mutate(input, corpus, random);
        }
    }

    /// <summary>Accepted if either reading accepts the bytes (a float model is no QDQ model and the float engine runs no QuantizeLinear); rejected if both reject.</summary>
    public override void Execute(byte[] input)
    {
        var model = OnnxModelFile.Parse(input, _modelPath);
        QuantBuildException? floatRejection = null;
        try { ImportFloat(model); }
        catch (QuantBuildException e) when (CaseRunner.IsDiagnostic(e)) { floatRejection = e; }
        // run --int reads the same bytes as a QDQ model.
        var quantized = QdqOnnxImporter.Import(model, _modelPath, _directory);
        if (floatRejection is not null && quantized.Weights.Count == 0 && quantized.Activations.Count == 0) throw floatRejection;
    }

    private void ImportFloat(ModelProto model)
    {
        if (OnnxModelFile.HasExternalData(model)) ExternalData.Inline(model, _directory, _modelPath);
        var graph = OnnxImporter.Import(model, _directory, _modelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        graph.RemoveDeadNodes();
        ShapeInference.Apply(graph);
        // quantize brings older models up to the QDQ opset and infers shapes again.
        if (graph.OpsetVersion < OpsetUpgrade.QdqMinimumOpset)
        {
            OpsetUpgrade.Apply(graph);
            ShapeInference.Apply(graph);
        }
        _ = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
    }

    public override void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
        base.Dispose();
    }
}
