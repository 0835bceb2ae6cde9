using System.Reflection;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine;

/// <summary>
/// Finds kernel classes by their <see cref="OnnxOpAttribute"/>. Reflection is fine here: this is the
/// build-time engine, never the shipped runtime.
/// </summary>
public static class OpRegistry
{
    private static readonly Lazy<Dictionary<string, ConstructorInfo>> Kernels = new(Discover);

    private static Dictionary<string, ConstructorInfo> Discover()
    {
        var map = new Dictionary<string, ConstructorInfo>(StringComparer.Ordinal);
        foreach (var type in typeof(OpRegistry).Assembly.GetTypes())
        {
            if (type.IsAbstract || !typeof(OpKernel).IsAssignableFrom(type)) continue;
            foreach (var attr in type.GetCustomAttributes<OnnxOpAttribute>())
            {
                var ctor = type.GetConstructor(new[] { typeof(Node), typeof(KernelContext) })
                    ?? throw new InvalidOperationException($"{type.Name} needs a constructor (Node, KernelContext)");
                if (!map.TryAdd(attr.OpType, ctor))
                    throw new InvalidOperationException($"two kernels claim {attr.OpType}: {map[attr.OpType].DeclaringType!.Name} and {type.Name}");
            }
        }
        return map;
    }

    public static IReadOnlyCollection<string> SupportedOps => Kernels.Value.Keys;

    public static bool IsSupported(Node node) => node.Domain is "" or "ai.onnx" && Kernels.Value.ContainsKey(node.OpType);

    public static OpKernel Create(Node node, KernelContext context)
    {
        if (QuantBuild.Graph.Transforms.IfInlining.IsIf(node))
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
                $"If node '{node.Name}' reached the engine: graph preparation (GraphPreparation.Prepare) replaces every If by its branches first",
                node: node.Name);
        if (!IsSupported(node))
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
                $"operator '{(node.Domain.Length > 0 ? node.Domain + "." : "")}{node.OpType}' (node '{node.Name}') is not supported by QuantBuild's engine",
                node: node.Name);
        try
        {
            return (OpKernel)Kernels.Value[node.OpType].Invoke(new object[] { node, context });
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
