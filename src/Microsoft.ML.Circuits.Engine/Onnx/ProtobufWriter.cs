using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.Circuits.Onnx;

/// <summary>
/// The protocol-buffers wire format, write-only, for the few message types of an ONNX model
/// (<see cref="OnnxGraph"/>): varints, length-delimited fields (strings, bytes, nested messages) and packed
/// repeated integers. Nested messages are written into their own buffer first, then copied after their length.
/// </summary>
internal sealed class ProtobufWriter
{
    const int Varint = 0, LengthDelimited = 2, Fixed32 = 5;
    readonly MemoryStream buffer = new();

    /// <summary>The bytes written so far.</summary>
    public ReadOnlySpan<byte> Written => buffer.GetBuffer().AsSpan(0, (int)buffer.Length);

    /// <summary>An int64/int32/enum field (omitted when 0, as proto3 does, unless <paramref name="writeZero"/>: ONNX
    /// readers built on proto2 tell a present 0 from an absent field, e.g. an attribute's value).</summary>
    public void Int64(int field, long value, bool writeZero = false)
    {
        if (value == 0 && !writeZero) return;
        Tag(field, Varint);
        WriteVarint((ulong)value);
    }

    /// <summary>A float field (wire type fixed32), always written.</summary>
    public void Float(int field, float value)
    {
        Tag(field, Fixed32);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        buffer.Write(bytes);
    }

    /// <summary>A string field, UTF-8 (omitted when empty).</summary>
    public void String(int field, string value)
    {
        if (string.IsNullOrEmpty(value)) return;
        Bytes(field, Encoding.UTF8.GetBytes(value));
    }

    /// <summary>A bytes field (always written, even when empty).</summary>
    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, LengthDelimited);
        WriteVarint((ulong)value.Length);
        buffer.Write(value);
    }

    /// <summary>A packed repeated int64 field (omitted when empty).</summary>
    public void PackedInt64(int field, IReadOnlyList<long> values)
    {
        if (values.Count == 0) return;
        var packed = new ProtobufWriter();
        foreach (long v in values) packed.WriteVarint((ulong)v);
        Bytes(field, packed.Written);
    }

    /// <summary>A nested message written by <paramref name="write"/> (always written, even when empty).</summary>
    public void Message(int field, Action<ProtobufWriter> write)
    {
        var nested = new ProtobufWriter();
        write(nested);
        Bytes(field, nested.Written);
    }

    void Tag(int field, int wireType) => WriteVarint(((ulong)field << 3) | (uint)wireType);

    void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        buffer.WriteByte((byte)value);
    }
}
