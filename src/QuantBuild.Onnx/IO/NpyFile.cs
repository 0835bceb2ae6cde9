using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using QuantBuild.Diagnostics;
using QuantBuild.Tensors;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0), the exchange format
/// for model inputs, outputs and calibration samples.
/// <para>
/// Supported element types: float32 (<c>&lt;f4</c>), int8 (<c>|i1</c>), uint8 (<c>|u1</c>),
/// int32 (<c>&lt;i4</c>), int64 (<c>&lt;i8</c>), and bool (<c>|b1</c>, because comparison ops
/// produce bool model outputs). Data must be little-endian and in C order; anything else is
/// reported as QB1005 rather than silently reinterpreted.
/// </para>
/// </summary>
public static class NpyFile
{
    // 0x93 is a single byte here: a "\x93..."u8 literal would encode U+0093 as two UTF-8 bytes.
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Header block alignment numpy uses (since 1.14), so data starts aligned for memory mapping.</summary>
    private const int HeaderAlignment = 64;

    /// <summary>Room for the header on top of the tensor limit (numpy pads headers to 64 bytes; even a rank-32 shape needs a few hundred).</summary>
    private const long HeaderAllowance = 1 << 20;

    public static Tensor Read(string path)
    {
        // The tensor limit bounds the file before it is read: a larger file cannot hold an acceptable array.
        var bytes = InputFile.ReadAllBytes(path, ".npy file", TensorLimits.Current.MaxTensorBytes + HeaderAllowance);
        return Parse(bytes, path);
    }

    /// <param name="bytes">the whole file</param>
    /// <param name="path">file named in diagnostics</param>
    public static Tensor Parse(ReadOnlySpan<byte> bytes, string? path = null)
    {
        string label = path ?? "<npy data>";
        QuantBuildException Invalid(string what) => new(DiagnosticCodes.InvalidNpy, $"'{label}' is not a usable .npy file: {what}", path);

        if (bytes.Length < Magic.Length + 2 || !bytes[..Magic.Length].SequenceEqual(Magic))
            throw Invalid("it does not start with the .npy magic bytes \\x93NUMPY");
        int major = bytes[6], minor = bytes[7];
        if (minor != 0 || major is < 1 or > 3)
            throw Invalid($"format version {major}.{minor} is not one of 1.0, 2.0, 3.0");

        int lengthFieldSize = major == 1 ? 2 : 4;
        int preamble = 8 + lengthFieldSize;
        if (bytes.Length < preamble)
            throw Invalid("the file ends inside the header length field");
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (preamble + headerLength > bytes.Length)
            throw Invalid($"the header claims {headerLength} bytes but the file has only {bytes.Length - preamble} after the preamble (truncated?)");

        var headerBytes = bytes.Slice(preamble, (int)headerLength);
        string header;
        try
        {
            // 1.0/2.0 headers are latin-1 (in practice ASCII); 3.0 allows UTF-8 field names.
            header = major == 3 ? new UTF8Encoding(false, true).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid("the header is not valid UTF-8");
        }

        Dictionary<string, object> fields;
        try
        {
            fields = new HeaderParser(header).ParseDictionary();
        }
        catch (FormatException e)
        {
            throw Invalid($"the header '{header.Trim()}' cannot be read: {e.Message}");
        }

        if (!fields.TryGetValue("descr", out var descrValue) || descrValue is not string descr)
            throw Invalid("the header has no 'descr' string");
        if (!fields.TryGetValue("fortran_order", out var fortranValue) || fortranValue is not bool fortran)
            throw Invalid("the header has no 'fortran_order' flag");
        if (!fields.TryGetValue("shape", out var shapeValue) || shapeValue is not List<long> dims)
            throw Invalid("the header has no 'shape' tuple");
        if (fortran)
            throw Invalid("the array is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray) first");

        var type = ParseDescr(descr, Invalid);
        var shape = new int[dims.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (dims[i] < 0 || dims[i] > int.MaxValue)
                throw Invalid($"dimension {dims[i]} is out of range");
            shape[i] = (int)dims[i];
        }
        long count = 1;
        try
        {
            foreach (int d in shape) count = checked(count * d);
        }
        catch (OverflowException)
        {
            throw Invalid($"shape [{string.Join(",", shape)}] has too many elements");
        }
        int elementSize = DataTypes.SizeInBytes(type);
        long dataStart = preamble + headerLength;
        long expected = count > long.MaxValue / elementSize ? long.MaxValue : count * elementSize;
        long available = bytes.Length - dataStart;
        if (available < expected)
            throw Invalid($"shape [{string.Join(",", shape)}] of {DataTypes.Name(type)} needs {expected} bytes of data but the file holds {available} (truncated?)");
        try
        {
            TensorLimits.CheckedElementCount(type, dims.ToArray(), "array");
        }
        catch (QuantBuildException e)
        {
            throw new QuantBuildException(e.Code, $"'{label}': {e.Message}", path, inner: e);
        }
        if (available > expected)
            throw Invalid($"shape [{string.Join(",", shape)}] of {DataTypes.Name(type)} needs {expected} bytes of data but the file holds {available} (trailing bytes)");

        var data = Array.CreateInstance(DataTypes.ClrType(type), (int)count);
        var source = bytes.Slice((int)dataStart, (int)expected);
        if (type == DataType.Bool)
        {
            var flags = (bool[])data;
            for (int i = 0; i < flags.Length; i++) flags[i] = source[i] != 0;
        }
        else
        {
            source.CopyTo(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(data), (int)expected));
        }
        return new Tensor(type, shape, data);
    }

    /// <summary>
    /// Writes atomically (temporary file, then rename), so a failed run never leaves half an array. The data
    /// is streamed from the tensor's buffer, so an output of several GiB needs no second copy in memory.
    /// </summary>
    public static void Write(string path, Tensor tensor)
    {
        var header = Header(tensor, path);
        AtomicFile.WriteStream(path, stream =>
        {
            stream.Write(header);
            WriteData(stream, tensor);
        });
    }

    /// <summary>The complete file content: version 1.0 when the header fits (as numpy does), else 2.0.</summary>
    public static byte[] ToBytes(Tensor tensor, string? path = null)
    {
        var header = Header(tensor, path);
        // 64-bit: element count times element size passes 2^31 for outputs of 2 GiB and more, and a
        // wrapped 32-bit length once produced a header-only file for them.
        long total = header.Length + DataLength(tensor);
        if (total > Array.MaxLength)
            throw new QuantBuildException(DiagnosticCodes.WriteFailed,
                $"{DataTypes.Name(tensor.Type)}{tensor.ShapeString} needs {total} bytes as .npy, more than one in-memory array holds; write it to a file instead", path);
        using var buffer = new MemoryStream((int)total);
        buffer.Write(header);
        WriteData(buffer, tensor);
        return buffer.GetBuffer();
    }

    private static long DataLength(Tensor tensor) => (long)tensor.Length * DataTypes.SizeInBytes(tensor.Type);

    /// <summary>Magic, version, header length and the padded header dict.</summary>
    private static byte[] Header(Tensor tensor, string? path)
    {
        string descr = Descr(tensor.Type)
            ?? throw new QuantBuildException(DiagnosticCodes.InvalidNpy,
                $"{DataTypes.Name(tensor.Type)} tensors cannot be written as .npy (supported: float32, int8, uint8, int32, int64, bool)", path);
        string shape = tensor.Rank switch
        {
            0 => "()",
            1 => $"({tensor.Shape[0]},)",
            _ => "(" + string.Join(", ", tensor.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";

        int major = 1;
        int preamble = 10;
        int headerLength = PaddedHeaderLength(preamble, dict.Length);
        if (headerLength > ushort.MaxValue)
        {
            major = 2;
            preamble = 12;
            headerLength = PaddedHeaderLength(preamble, dict.Length);
        }

        var result = new byte[preamble + headerLength];
        Magic.CopyTo(result);
        result[6] = (byte)major;
        result[7] = 0;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)headerLength);
        else BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)headerLength);
        var header = result.AsSpan(preamble, headerLength);
        header.Fill((byte)' ');
        Encoding.ASCII.GetBytes(dict, header);
        header[^1] = (byte)'\n';
        return result;
    }

    /// <summary>The raw little-endian elements, in chunks (one span cannot cover more than 2^31 bytes).</summary>
    private static void WriteData(Stream stream, Tensor tensor)
    {
        const int ChunkBytes = 1 << 24;
        if (tensor.Data is bool[] flags)
        {
            var bytes = new byte[Math.Min(flags.Length, ChunkBytes)];
            for (int start = 0; start < flags.Length; start += bytes.Length)
            {
                int n = Math.Min(bytes.Length, flags.Length - start);
                for (int i = 0; i < n; i++) bytes[i] = flags[start + i] ? (byte)1 : (byte)0;
                stream.Write(bytes, 0, n);
            }
            return;
        }
        int elementSize = DataTypes.SizeInBytes(tensor.Type);
        int elementsPerChunk = ChunkBytes / elementSize;
        ref byte data = ref MemoryMarshal.GetArrayDataReference(tensor.Data);
        for (long start = 0; start < tensor.Length; start += elementsPerChunk)
        {
            int n = (int)Math.Min(elementsPerChunk, tensor.Length - start);
            stream.Write(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref data, (nint)(start * elementSize)), n * elementSize));
        }
    }

    /// <summary>Header length (dict, spaces, newline) that makes preamble + header a multiple of 64.</summary>
    private static int PaddedHeaderLength(int preamble, int dictLength)
    {
        int unpadded = preamble + dictLength + 1;
        int total = (unpadded + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        return total - preamble;
    }

    private static string? Descr(DataType type) => type switch
    {
        DataType.Float => "<f4",
        DataType.Int8 => "|i1",
        DataType.UInt8 => "|u1",
        DataType.Int32 => "<i4",
        DataType.Int64 => "<i8",
        DataType.Bool => "|b1",
        _ => null,
    };

    private static DataType ParseDescr(string descr, Func<string, QuantBuildException> invalid)
    {
        if (descr.Length < 2)
            throw invalid($"dtype '{descr}' is not understood");
        char order = descr[0];
        string kind = descr[1..];
        bool singleByte = kind is "i1" or "u1" or "b1";
        // '|' (not applicable) is what numpy writes for one-byte types; '=' means native, which is little-endian here.
        bool littleEndian = order is '<' or '|' or '=' || singleByte && order == '>';
        if (order is not ('<' or '>' or '|' or '='))
            throw invalid($"dtype '{descr}' is not understood");
        if (!littleEndian)
            throw invalid($"dtype '{descr}' is big-endian; only little-endian data is supported (numpy: arr.astype(arr.dtype.newbyteorder('<')))");
        return kind switch
        {
            "f4" => DataType.Float,
            "i1" => DataType.Int8,
            "u1" => DataType.UInt8,
            "i4" => DataType.Int32,
            "i8" => DataType.Int64,
            "b1" => DataType.Bool,
            _ => throw invalid($"dtype '{descr}' is not supported (supported: <f4 float32, |i1 int8, |u1 uint8, <i4 int32, <i8 int64, |b1 bool)"),
        };
    }

    /// <summary>
    /// The header is a Python dict literal. This reads the subset numpy writes: string keys, and values
    /// that are strings, True/False, or tuples of integers (Python 2 files may add an 'L' suffix).
    /// </summary>
    private sealed class HeaderParser(string text)
    {
        private readonly string _text = text;
        private int _pos;

        public Dictionary<string, object> ParseDictionary()
        {
            var result = new Dictionary<string, object>(StringComparer.Ordinal);
            Expect('{');
            while (true)
            {
                SkipSpace();
                if (TryTake('}')) break;
                string key = ReadString();
                Expect(':');
                result[key] = ReadValue();
                SkipSpace();
                if (TryTake(',')) continue;
                Expect('}');
                break;
            }
            SkipSpace();
            if (_pos != _text.Length)
                throw new FormatException($"unexpected text after the dictionary at offset {_pos}");
            return result;
        }

        private object ReadValue()
        {
            SkipSpace();
            if (_pos >= _text.Length) throw new FormatException("a value is missing");
            char c = _text[_pos];
            if (c is '\'' or '"') return ReadString();
            if (c == '(') return ReadTuple();
            if (TryWord("True")) return true;
            if (TryWord("False")) return false;
            throw new FormatException($"unexpected '{c}' at offset {_pos}");
        }

        private List<long> ReadTuple()
        {
            Expect('(');
            var items = new List<long>();
            while (true)
            {
                SkipSpace();
                if (TryTake(')')) return items;
                items.Add(ReadInteger());
                SkipSpace();
                if (TryTake(',')) continue;
                Expect(')');
                return items;
            }
        }

        private long ReadInteger()
        {
            int start = _pos;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
            if (start == _pos) throw new FormatException($"expected a dimension at offset {start}");
            if (!long.TryParse(_text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                throw new FormatException($"dimension '{_text[start.._pos]}' is too large");
            if (_pos < _text.Length && _text[_pos] is 'L' or 'l') _pos++;
            return value;
        }

        private string ReadString()
        {
            SkipSpace();
            if (_pos >= _text.Length || _text[_pos] is not ('\'' or '"'))
                throw new FormatException($"expected a quoted string at offset {_pos}");
            char quote = _text[_pos++];
            int start = _pos;
            while (_pos < _text.Length && _text[_pos] != quote)
            {
                if (_text[_pos] == '\\') throw new FormatException("escaped characters in strings are not supported");
                _pos++;
            }
            if (_pos >= _text.Length) throw new FormatException("a string is not terminated");
            return _text[start.._pos++];
        }

        private bool TryWord(string word)
        {
            if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0) return false;
            _pos += word.Length;
            return true;
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (!TryTake(c))
                throw new FormatException(_pos < _text.Length ? $"expected '{c}' at offset {_pos}, found '{_text[_pos]}'" : $"expected '{c}' but the header ended");
        }

        private bool TryTake(char c)
        {
            if (_pos < _text.Length && _text[_pos] == c) { _pos++; return true; }
            return false;
        }

        private void SkipSpace()
        {
            while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos])) _pos++;
        }
    }
}
