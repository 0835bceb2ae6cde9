using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace QuantBuild.Fuzz;

/// <summary>
/// Protobuf-aware mutations. Message level: decode, change one field through protobuf reflection (a dim,
/// a data type, a name rewired to another value's name, an attribute dropped or duplicated...), encode again,
/// so the input stays well-formed and reaches the importer's own checks. Wire level: rewrite a varint or a
/// length prefix in the encoded bytes, which exercises the decoder's bounds.
/// </summary>
public static class ProtobufMutations
{
    private static readonly long[] InterestingIntegers =
        [0, 1, -1, 2, 3, 4, 7, 8, 9, 10, 13, 16, 21, 22, 255, 256, 4096, 65536, int.MaxValue, int.MinValue, (long)int.MaxValue + 1, uint.MaxValue, long.MaxValue, long.MinValue];

    private static readonly double[] InterestingFloats = [0, -0.0, 1, -1, 1e-45, 3.4e38, double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    /// <param name="extraStrings">target-specific strings worth trying (operator names, attribute names, file names)</param>
    public static T MutateMessage<T>(T message, FuzzRandom random, IReadOnlyList<string> extraStrings) where T : IMessage<T>
    {
        var copy = message.Clone();
        var slots = new List<(IMessage Owner, FieldDescriptor Field)>();
        var strings = new List<string>(extraStrings);
        var messages = new List<IMessage>();
        Collect(copy, slots, strings, messages);
        if (slots.Count == 0) return copy;
        int edits = random.SmallCount(3);
        for (int e = 0; e < edits; e++)
        {
            var (owner, field) = random.Pick(slots);
            if (field.IsRepeated) MutateRepeated(owner, field, random, strings, messages);
            else MutateSingle(owner, field, random, strings, messages);
        }
        return copy;
    }

    private static void Collect(IMessage message, List<(IMessage, FieldDescriptor)> slots, List<string> strings, List<IMessage> messages)
    {
        messages.Add(message);
        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            slots.Add((message, field));
            var value = field.Accessor.GetValue(message);
            if (field.IsRepeated)
            {
                foreach (var item in (IList)value)
                {
                    if (item is IMessage child) Collect(child, slots, strings, messages);
                    else if (item is string s) strings.Add(s);
                }
            }
            else if (value is IMessage child) Collect(child, slots, strings, messages);
            else if (value is string s && s.Length > 0) strings.Add(s);
        }
    }

    private static void MutateSingle(IMessage owner, FieldDescriptor field, FuzzRandom random, List<string> strings, List<IMessage> messages)
    {
        if (field.FieldType == FieldType.Message)
        {
            // Drop the submessage, or put another message of the same type in its place.
            var donors = messages.Where(m => m.Descriptor == field.MessageType && !ReferenceEquals(m, owner)).ToList();
            if (random.Chance(2) || donors.Count == 0) field.Accessor.Clear(owner);
            else field.Accessor.SetValue(owner, CloneMessage(random.Pick(donors)));
            return;
        }
        field.Accessor.SetValue(owner, NewScalar(field, field.Accessor.GetValue(owner), random, strings));
    }

    private static void MutateRepeated(IMessage owner, FieldDescriptor field, FuzzRandom random, List<string> strings, List<IMessage> messages)
    {
        var list = (IList)field.Accessor.GetValue(owner);
        switch (random.Next(5))
        {
            case 0 when list.Count > 0:
                list.RemoveAt(random.Next(list.Count));
                break;
            case 1 when list.Count > 0: // duplicate an element (a message is cloned, so the two can diverge)
            {
                var item = list[random.Next(list.Count)]!;
                list.Insert(random.Next(list.Count + 1), item is IMessage m ? CloneMessage(m) : item);
                break;
            }
            case 2 when list.Count > 1: // swap two: node order, input order, dim order
            {
                int a = random.Next(list.Count), b = random.Next(list.Count);
                (list[a], list[b]) = (list[b], list[a]);
                break;
            }
            case 3 when field.FieldType != FieldType.Message:
                list.Add(NewScalar(field, list.Count > 0 ? list[random.Next(list.Count)] : null, random, strings));
                break;
            default:
                if (list.Count > 0 && field.FieldType != FieldType.Message)
                {
                    int at = random.Next(list.Count);
                    list[at] = NewScalar(field, list[at], random, strings);
                }
                else if (random.Chance(4)) list.Clear();
                break;
        }
    }

    /// <summary>A new value for a scalar field: a boundary value, a neighbour of the old one, or for strings another name from the model.</summary>
    private static object NewScalar(FieldDescriptor field, object? old, FuzzRandom random, List<string> strings)
    {
        long integer = random.Chance(3) && old is not null and not string and not ByteString and not bool
            ? ToInt64(old) + random.Next(-2, 3)
            : random.Pick(InterestingIntegers);
        switch (field.FieldType)
        {
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32: return unchecked((int)integer);
            case FieldType.UInt32 or FieldType.Fixed32: return unchecked((uint)integer);
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64: return integer;
            case FieldType.UInt64 or FieldType.Fixed64: return unchecked((ulong)integer);
            case FieldType.Enum: return Enum.ToObject(field.EnumType.ClrType, unchecked((int)integer));
            case FieldType.Bool: return old is bool b ? !b : true;
            case FieldType.Float: return (float)random.Pick(InterestingFloats);
            case FieldType.Double: return random.Pick(InterestingFloats);
            case FieldType.String:
                return random.Next(6) switch
                {
                    0 => "",
                    1 when old is string s && s.Length > 0 => s[..random.Next(s.Length)],
                    _ => random.Pick(strings),
                };
            case FieldType.Bytes:
            {
                var bytes = old is ByteString bs ? bs.ToByteArray() : [];
                if (bytes.Length > 0 && random.Chance(2)) return ByteString.CopyFrom(bytes, 0, random.Next(bytes.Length));
                var longer = new byte[bytes.Length + random.SmallCount(16)];
                bytes.CopyTo(longer, 0);
                return ByteString.CopyFrom(longer);
            }
            default:
                throw new NotSupportedException($"field type {field.FieldType}");
        }
    }

    // Generated messages are IDeepCloneable of their own type only; a round trip clones any of them.
    private static IMessage CloneMessage(IMessage m) => m.Descriptor.Parser.ParseFrom(m.ToByteString());

    private static long ToInt64(object value) => value switch
    {
        int i => i,
        uint u => u,
        long l => l,
        ulong ul => unchecked((long)ul),
        float f => (long)f,
        double d => (long)d,
        Enum e => Convert.ToInt64(e, System.Globalization.CultureInfo.InvariantCulture),
        _ => 0,
    };

    /// <summary>
    /// Rewrites one varint (a field value or a length prefix) in the encoded bytes. Fields are found by
    /// walking the wire format, descending into length-delimited payloads that themselves parse as messages.
    /// </summary>
    public static byte[] MutateWire(byte[] encoded, FuzzRandom random)
    {
        var varints = new List<(int Start, int Length)>();
        Walk(encoded, 0, encoded.Length, varints, depth: 0);
        if (varints.Count == 0) return encoded;
        var (start, length) = random.Pick(varints);
        ulong old = ReadVarint(encoded, start, out _);
        ulong value = random.Next(3) switch
        {
            0 => old + (ulong)random.Next(1, 4),
            1 => old - (ulong)random.Next(1, 4),
            _ => unchecked((ulong)random.Pick(InterestingIntegers)),
        };
        var replacement = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            replacement.Add(value != 0 ? (byte)(b | 0x80) : b);
        } while (value != 0);
        return [.. encoded.AsSpan(0, start), .. replacement, .. encoded.AsSpan(start + length)];
    }

    /// <returns>false if [start, end) is not a well-formed sequence of fields</returns>
    private static bool Walk(byte[] data, int start, int end, List<(int, int)> varints, int depth)
    {
        int before = varints.Count;
        int pos = start;
        while (pos < end)
        {
            ulong key = ReadVarint(data, pos, out int keyLength);
            if (keyLength == 0 || pos + keyLength > end || key >> 3 == 0) { varints.RemoveRange(before, varints.Count - before); return false; }
            pos += keyLength;
            switch ((int)(key & 7))
            {
                case 0:
                {
                    ReadVarint(data, pos, out int n);
                    if (n == 0 || pos + n > end) { varints.RemoveRange(before, varints.Count - before); return false; }
                    varints.Add((pos, n));
                    pos += n;
                    break;
                }
                case 1: pos += 8; break;
                case 5: pos += 4; break;
                case 2:
                {
                    ulong length = ReadVarint(data, pos, out int n);
                    if (n == 0 || length > (ulong)(end - pos - n)) { varints.RemoveRange(before, varints.Count - before); return false; }
                    varints.Add((pos, n));
                    pos += n;
                    // A nested message or just bytes/a string: trying costs little and finds the dims and data types.
                    if (depth < 8 && length > 0) Walk(data, pos, pos + (int)length, varints, depth + 1);
                    pos += (int)length;
                    break;
                }
                default: varints.RemoveRange(before, varints.Count - before); return false;
            }
        }
        if (pos != end) { varints.RemoveRange(before, varints.Count - before); return false; }
        return true;
    }

    private static ulong ReadVarint(byte[] data, int pos, out int length)
    {
        ulong value = 0;
        for (int i = 0; i < 10 && pos + i < data.Length; i++)
        {
            byte b = data[pos + i];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) { length = i + 1; return value; }
        }
        length = 0;
        return 0;
    }
}
