using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantBuild.Diagnostics;

namespace QuantBuild.Lowering;

/// <summary>
/// Makes the calls of a <see cref="KernelPlan"/> executable in-process, for any kernel signature: each
/// constructor, factory and invocation becomes a small dynamic method that converts its arguments exactly
/// as the C# compiler does for the generated code (arrays to read-only spans, arena bytes to typed spans).
/// Reflection cannot pass spans, so this is what lets the runner stay a generic interpreter of the plan.
/// </summary>
internal static class KernelInvoker
{
    /// <summary>The value of a build-time argument (everything but arena views).</summary>
    public static object Evaluate(PlanValue value) => value switch
    {
        LiteralValue l => l.Value,
        DataValue d => d.Data.Values,
        EmptyValue e => Array.CreateInstance(e.ElementType, 0),
        NewValue n => Create(n.Constructor, n.Arguments),
        CallValue c => Create(c.Method, c.Arguments),
        _ => throw new QuantBuildException(DiagnosticCodes.InternalError, $"{value.GetType().Name} has no build-time value"),
    };

    /// <summary>Calls a constructor or a static method with the evaluated arguments (optional parameters left out take their defaults).</summary>
    private static object Create(MethodBase method, IReadOnlyList<PlanValue> arguments)
    {
        var parameters = method.GetParameters();
        var values = new object[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
            values[i] = i < arguments.Count ? Evaluate(arguments[i]) : parameters[i].DefaultValue!;
        var dm = new DynamicMethod("Create_" + method.DeclaringType!.Name, typeof(object), [typeof(object[])], typeof(KernelInvoker).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        for (int i = 0; i < parameters.Length; i++)
        {
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Ldelem_Ref);
            FromObject(il, parameters[i].ParameterType);
        }
        Type result;
        if (method is ConstructorInfo ctor)
        {
            il.Emit(OpCodes.Newobj, ctor);
            result = ctor.DeclaringType!;
        }
        else
        {
            var m = (MethodInfo)method;
            il.Emit(OpCodes.Call, m);
            result = m.ReturnType;
        }
        if (result.IsValueType) il.Emit(OpCodes.Box, result);
        il.Emit(OpCodes.Ret);
        return ((Func<object[], object>)dm.CreateDelegate(typeof(Func<object[], object>)))(values);
    }

    /// <summary>
    /// One invocation as a delegate of (kernel object, arena): arena operands are sliced from the arena on
    /// every call, build-time operands are evaluated once here.
    /// </summary>
    public static Action<object?, byte[]> Bind(PlanInvocation invocation)
    {
        var method = invocation.Method;
        var parameters = method.GetParameters();
        var constants = new List<object>();
        var dm = new DynamicMethod("Invoke_" + method.DeclaringType!.Name + "_" + method.Name, typeof(void),
            [typeof(object[]), typeof(object), typeof(byte[])], typeof(KernelInvoker).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        if (!method.IsStatic)
        {
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Castclass, method.DeclaringType!);
        }
        for (int i = 0; i < parameters.Length; i++)
        {
            var type = parameters[i].ParameterType;
            var arg = i < invocation.Arguments.Count ? invocation.Arguments[i] : null;
            switch (arg)
            {
                case ArenaValue a:
                    il.Emit(OpCodes.Ldarg_2);
                    il.Emit(OpCodes.Ldc_I4, a.ByteOffset);
                    il.Emit(OpCodes.Ldc_I4, a.Length);
                    var spanType = typeof(Span<>).MakeGenericType(a.ElementType);
                    il.Emit(OpCodes.Call, typeof(KernelInvoker).GetMethod(nameof(ArenaSpan), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(a.ElementType));
                    if (type != spanType) il.Emit(OpCodes.Call, spanType.GetMethod("op_Implicit", [spanType])!);
                    break;
                case LiteralValue { Value: int n } when type == typeof(int):
                    il.Emit(OpCodes.Ldc_I4, n);
                    break;
                case LiteralValue { Value: float f } when type == typeof(float):
                    il.Emit(OpCodes.Ldc_R4, f);
                    break;
                default:
                    constants.Add(arg is null ? parameters[i].DefaultValue! : Evaluate(arg));
                    il.Emit(OpCodes.Ldarg_0);
                    il.Emit(OpCodes.Ldc_I4, constants.Count - 1);
                    il.Emit(OpCodes.Ldelem_Ref);
                    FromObject(il, type);
                    break;
            }
        }
        il.Emit(method.IsStatic || method.DeclaringType!.IsValueType ? OpCodes.Call : OpCodes.Callvirt, method);
        if (method.ReturnType != typeof(void)) il.Emit(OpCodes.Pop);
        il.Emit(OpCodes.Ret);
        // Closed over the constants: the delegate is (kernel, arena) with no extra indirection.
        return (Action<object?, byte[]>)dm.CreateDelegate(typeof(Action<object?, byte[]>), constants.ToArray());
    }

    /// <summary>Converts the object on the stack to a parameter type: unboxing, a cast, or array → (ReadOnly)Span.</summary>
    private static void FromObject(ILGenerator il, Type parameter)
    {
        if (KernelBinding.IsSpan(parameter))
        {
            var element = KernelBinding.SequenceElement(parameter)!;
            var array = element.MakeArrayType();
            il.Emit(OpCodes.Castclass, array);
            il.Emit(OpCodes.Call, parameter.GetMethod("op_Implicit", [array])!);
        }
        else if (parameter.IsValueType) il.Emit(OpCodes.Unbox_Any, parameter);
        else il.Emit(OpCodes.Castclass, parameter);
    }

    private static Span<T> ArenaSpan<T>(byte[] arena, int byteOffset, int length) where T : struct =>
        MemoryMarshal.Cast<byte, T>(arena.AsSpan(byteOffset, checked(length * Unsafe.SizeOf<T>())));
}
