using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// MaxPool on int8 codes (NCHW). Padded taps are ignored (ONNX pads MaxPool with −∞). The max is taken
    /// on input codes and then rescaled if the output parameters differ: the rescale is monotone, so
    /// max-then-rescale equals rescale-then-max.
    /// </summary>
    public sealed class MaxPoolInt8
    {
        private readonly Pool2DGeometry geometry;
        private readonly bool identity;
        private readonly bool everyColumnWindowInside;
        private readonly Int8CodeTable table;
        private readonly sbyte[] columnMaxima;
        private readonly bool pairsFromZero;
        private readonly bool pairsOnly;

        /// <summary>2×2 windows at stride 2 tiling whole rows (no padding): rows pair up, then columns pair up, per plane.</summary>
        private readonly bool twoByTwo;

        public MaxPoolInt8(Pool2DGeometry geometry, QuantParams input, QuantParams output)
        {
            if (geometry == null)
            {
                throw new ArgumentNullException(nameof(geometry));
            }

            this.geometry = geometry;
            var rescale = new Int8Rescale(input, output);
            identity = rescale.IsIdentity;
            everyColumnWindowInside = true;
            for (int ox = 0; ox < geometry.OutWidth; ox++)
            {
                everyColumnWindowInside &= WindowHasColumn(ox);
            }

            table = new Int8CodeTable(rescale.Apply);
            pairsFromZero = geometry.KernelWidth == 2 && geometry.StrideWidth == 2 && geometry.DilationWidth == 1 && geometry.PadLeft == 0;
            pairsOnly = pairsFromZero && geometry.KernelHeight == 1 && geometry.StrideHeight == 1 && geometry.PadTop == 0 && geometry.PadBottom == 0
                && geometry.InWidth == 2 * geometry.OutWidth && geometry.InHeight == geometry.OutHeight;
            twoByTwo = pairsFromZero && geometry.KernelHeight == 2 && geometry.StrideHeight == 2 && geometry.DilationHeight == 1
                && geometry.PadTop == 0 && geometry.InWidth == 2 * geometry.OutWidth && geometry.InHeight >= 2 * geometry.OutHeight;
            // One input row of window maxima, or for 2×2 windows the row maxima of a whole plane.
            columnMaxima = new sbyte[(twoByTwo ? geometry.OutHeight : 1) * geometry.InWidth];
        }

        public Pool2DGeometry Geometry
        {
            get { return geometry; }
        }

        /// <summary>
        /// Separable: the window's rows are reduced into one row with vector byte max, then each output takes the
        /// max of its columns; the rescale is a code table over the output row.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Pool2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            if (pairsOnly)
            {
                // 1×2 windows at stride 2 tiling every row: output o is the max of input 2o and 2o + 1, across rows.
                int done = MaxOfPairs(input, output);
                for (; done < output.Length; done++)
                {
                    output[done] = (sbyte)Math.Max(input[2 * done], input[2 * done + 1]);
                }

                if (!identity)
                {
                    table.Map(output, output);
                }

                return;
            }

            if (twoByTwo)
            {
                EvalTwoByTwo(input, output);
                return;
            }

            Span<sbyte> rowMax = columnMaxima;
            int inPlane = g.InHeight * g.InWidth;
            int o = 0;
            for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            {
                ReadOnlySpan<sbyte> source = input.Slice(plane * inPlane, inPlane);
                for (int oy = 0; oy < g.OutHeight; oy++)
                {
                    Span<sbyte> outRow = output.Slice(o, g.OutWidth);
                    o += g.OutWidth;
                    bool anyRow = false;
                    for (int ky = 0; ky < g.KernelHeight; ky++)
                    {
                        int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                        if (iy < 0 || iy >= g.InHeight)
                        {
                            continue;
                        }

                        ReadOnlySpan<sbyte> row = source.Slice(iy * g.InWidth, g.InWidth);
                        if (anyRow)
                        {
                            MaxInto(rowMax, row);
                        }
                        else
                        {
                            row.CopyTo(rowMax);
                            anyRow = true;
                        }
                    }

                    if (!anyRow)
                    {
                        // A window entirely in padding (only possible with huge pads) yields the lowest code.
                        outRow.Fill(sbyte.MinValue);
                        continue;
                    }

                    int ox = pairsFromZero ? MaxOfPairs(rowMax, outRow) : 0;
                    for (; ox < g.OutWidth; ox++)
                    {
                        int best = int.MinValue;
                        int ix = ox * g.StrideWidth - g.PadLeft;
                        for (int kx = 0; kx < g.KernelWidth; kx++, ix += g.DilationWidth)
                        {
                            if ((uint)ix < (uint)g.InWidth && rowMax[ix] > best)
                            {
                                best = rowMax[ix];
                            }
                        }

                        outRow[ox] = best == int.MinValue ? sbyte.MinValue : (sbyte)best;
                    }

                    if (!identity)
                    {
                        if (everyColumnWindowInside)
                        {
                            table.Map(outRow, outRow);
                        }
                        else
                        {
                            for (int column = 0; column < g.OutWidth; column++)
                            {
                                // The all-padding windows above keep the lowest code, as the definition says.
                                if (WindowHasColumn(column))
                                {
                                    outRow[column] = table[outRow[column]];
                                }
                            }
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Per plane, the max of each pair of rows goes into one row of <see cref="columnMaxima"/>; those rows, laid end to
        /// end, pair up by columns exactly as the outputs do (the width is even), so one pass of <see cref="MaxOfPairs"/>
        /// over the whole plane gives its outputs, and one table pass rescales them. No call or span per output row, which
        /// on 8-wide rows cost more than the maxima.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void EvalTwoByTwo(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Pool2DGeometry g = geometry;
            int width = g.InWidth;
            int inPlane = g.InHeight * width;
            int outPlane = g.OutHeight * g.OutWidth;
            Span<sbyte> rows = columnMaxima;
            for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            {
                ReadOnlySpan<sbyte> source = input.Slice(plane * inPlane, inPlane);
                for (int oy = 0; oy < g.OutHeight; oy++)
                {
                    Span<sbyte> target = rows.Slice(oy * width, width);
                    source.Slice(2 * oy * width, width).CopyTo(target);
                    MaxInto(target, source.Slice((2 * oy + 1) * width, width));
                }

                Span<sbyte> outRows = output.Slice(plane * outPlane, outPlane);
                int done = MaxOfPairs(rows, outRows);
                for (; done < outPlane; done++)
                {
                    outRows[done] = (sbyte)Math.Max(rows[2 * done], rows[2 * done + 1]);
                }

                if (!identity)
                {
                    table.Map(outRows, outRows);
                }
            }
        }

        /// <summary>
        /// out[ox] = max(row[2·ox], row[2·ox + 1]) for the leading outputs whose pair lies inside the row (2×2-style
        /// windows, stride 2, no left padding); returns how many it wrote. Each pair is one int16 lane: its bytes
        /// are sign-extended in place and compared.
        /// </summary>
        private static int MaxOfPairs(ReadOnlySpan<sbyte> row, Span<sbyte> output)
        {
            int ox = 0;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                ref short pairs = ref Unsafe.As<sbyte, short>(ref MemoryMarshal.GetReference(row));
                ref sbyte target = ref MemoryMarshal.GetReference(output);
                int whole = Math.Min(output.Length, row.Length / 2);
                for (; ox <= whole - 16; ox += 16)
                {
                    Vector128<short> a = Vector128.LoadUnsafe(ref pairs, (nuint)ox);
                    Vector128<short> b = Vector128.LoadUnsafe(ref pairs, (nuint)(ox + 8));
                    Vector128<short> maxA = Vector128.Max(Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(a, 8), 8), Vector128.ShiftRightArithmetic(a, 8));
                    Vector128<short> maxB = Vector128.Max(Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(b, 8), 8), Vector128.ShiftRightArithmetic(b, 8));
                    Vector128.Narrow(maxA, maxB).StoreUnsafe(ref target, (nuint)ox);
                }
            }
#endif
            return ox;
        }

        /// <summary>True when some column of output column <paramref name="ox"/>'s window lies inside the input.</summary>
        private bool WindowHasColumn(int ox)
        {
            Pool2DGeometry g = geometry;
            int ix = ox * g.StrideWidth - g.PadLeft;
            for (int kx = 0; kx < g.KernelWidth; kx++, ix += g.DilationWidth)
            {
                if ((uint)ix < (uint)g.InWidth)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>target[i] = max(target[i], row[i]).</summary>
        private static void MaxInto(Span<sbyte> target, ReadOnlySpan<sbyte> row)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            ref sbyte t = ref MemoryMarshal.GetReference(target);
            ref sbyte r = ref MemoryMarshal.GetReference(row);
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i <= row.Length - 32; i += 32)
                {
                    Vector256.Max(Vector256.LoadUnsafe(ref t, (nuint)i), Vector256.LoadUnsafe(ref r, (nuint)i)).StoreUnsafe(ref t, (nuint)i);
                }
            }

            if (Vector128.IsHardwareAccelerated)
            {
                for (; i <= row.Length - 16; i += 16)
                {
                    Vector128.Max(Vector128.LoadUnsafe(ref t, (nuint)i), Vector128.LoadUnsafe(ref r, (nuint)i)).StoreUnsafe(ref t, (nuint)i);
                }
            }
#endif
            for (; i < row.Length; i++)
            {
                if (row[i] > target[i])
                {
                    target[i] = row[i];
                }
            }
        }
    }
}
