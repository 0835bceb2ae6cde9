// System.Numerics.Tensors also defines a Tensor type; in this assembly "Tensor" is always ours.
global using Tensor = QuantBuild.Tensors.Tensor;
global using DataType = QuantBuild.Tensors.DataType;
global using TensorLimits = QuantBuild.Tensors.TensorLimits;
