using Microsoft.ML.Data;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The pixel column of a data view and how its values become the circuit's categories: its shape (H, W, C), layout
/// and scale. Resolve checks the column's type and size; CreateReader checks and quantises values.
/// </summary>
internal sealed class PixelColumn
{
    PixelColumn(string name, bool isByte, int height, int width, int channels, ChannelLayout layout, float scale, int categories, bool allowMissing = false)
    {
        Name = name; IsByte = isByte; Height = height; Width = width; Channels = channels; Layout = layout; Scale = scale; Categories = categories;
        AllowMissing = allowMissing;
    }

    /// <summary>True when NaN in a Single column marks a missing pixel (all of its channels) instead of being an error.</summary>
    public bool AllowMissing { get; }

    /// <summary>This column with NaN read as "missing" (<paramref name="allow"/>) or rejected.</summary>
    public PixelColumn WithMissing(bool allow) => allow == AllowMissing ? this : new(Name, IsByte, Height, Width, Channels, Layout, Scale, Categories, allow);

    public string Name { get; }
    public bool IsByte { get; }
    public int Height { get; }
    public int Width { get; }
    public int Channels { get; }
    public ChannelLayout Layout { get; }
    public float Scale { get; }
    public int Categories { get; }
    public int Size => Height * Width * Channels;

    string Expected => $"a known-size vector of Single or Byte with {Height}×{Width}×{Channels} = {Size} values";

    /// <summary>
    /// Finds <paramref name="name"/> in <paramref name="schema"/> and works out the image shape: explicit options win,
    /// then the column's dimensions ((C, H, W) planar or (H, W, C) interleaved, or (H, W)), then a square grayscale
    /// image. Throws <see cref="ArgumentOutOfRangeException"/> naming the column when it is missing, of the wrong type or
    /// of the wrong size.
    /// </summary>
    public static PixelColumn Resolve(DataViewSchema schema, string name, int? height, int? width, int? channels,
        ChannelLayout layout, float scale, int categories = CircuitDescription.ByteCategories)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(name), $"Input column '{name}' not found; the data has: {string.Join(", ", schema.Select(c => c.Name))}.");
        return Resolve(name, column.Type, height, width, channels, layout, scale, categories);
    }

    public static PixelColumn Resolve(string name, DataViewType type, int? height, int? width, int? channels,
        ChannelLayout layout, float scale, int categories = CircuitDescription.ByteCategories)
    {
        if (!(scale > 0) || !float.IsFinite(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"PixelScale must be a positive finite number (1 for 0..255 values, 255 for 0..1 values), got {scale}.");
        if (type is not VectorDataViewType vector || (vector.ItemType != NumberDataViewType.Single && vector.ItemType != NumberDataViewType.Byte))
            throw new ArgumentOutOfRangeException(nameof(name), $"Input column '{name}' must be a vector of Single or Byte pixel values, but it is {type}.");
        if (!vector.IsKnownSize)
            throw new ArgumentOutOfRangeException(nameof(name), $"Input column '{name}' must be a vector of known size (e.g. Vector<Single, 1, 28, 28> from ExtractPixels), but its size is unknown.");
        int size = vector.Size;
        var dims = vector.Dimensions;
        int h, w, c;
        if (height is not null || width is not null)
        {
            h = height ?? throw new ArgumentException($"Give ImageHeight together with ImageWidth for column '{name}'.", nameof(height));
            w = width ?? throw new ArgumentException($"Give ImageWidth together with ImageHeight for column '{name}'.", nameof(width));
            c = channels ?? Math.Max(1, size / Math.Max(1, h * w));
        }
        else if (dims.Length == 3)
            (c, h, w) = layout == ChannelLayout.Planar ? (dims[0], dims[1], dims[2]) : (dims[2], dims[0], dims[1]);
        else if (dims.Length == 2)
            (h, w, c) = (dims[0], dims[1], channels ?? 1);
        else
        {
            c = channels ?? 1;
            int side = (int)Math.Round(Math.Sqrt(size / (double)c));
            if (side * side * c != size)
                throw new ArgumentOutOfRangeException(nameof(name),
                    $"Input column '{name}' has {size} values, which is not a square image with {c} channel(s): set ImageHeight, ImageWidth and Channels.");
            (h, w) = (side, side);
        }
        if (channels is not null && channels != c)
            throw new ArgumentOutOfRangeException(nameof(channels), $"Channels = {channels}, but input column '{name}' has dimensions ({string.Join(", ", dims)}) with {c} channel(s).");
        var resolved = new PixelColumn(name, vector.ItemType == NumberDataViewType.Byte, h, w, c, layout, scale, categories);
        if (h < 1 || w < 1 || c < 1 || (long)h * w * c != size)
            throw new ArgumentOutOfRangeException(nameof(name), $"Input column '{name}' has {size} values, but {resolved.Expected} are expected.");
        return resolved;
    }

    /// <summary>Checks that a column of <paramref name="schema"/> still fits this shape (used by trained transformers).</summary>
    public void CheckSchema(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(Name)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"Input column '{Name}' not found ({Expected} is expected); the data has: {string.Join(", ", schema.Select(c => c.Name))}.");
        CheckType(column.Type);
    }

    public void CheckType(DataViewType type)
    {
        if (type is not VectorDataViewType vector || (vector.ItemType != NumberDataViewType.Single && vector.ItemType != NumberDataViewType.Byte) || !vector.IsKnownSize || vector.Size != Size)
            throw new ArgumentOutOfRangeException(nameof(type), $"Input column '{Name}' must be {Expected}, but it is {type}.");
    }

    /// <summary>
    /// Reads the current row's pixels into a (D, C) byte buffer, checking every value; when <see cref="AllowMissing"/>,
    /// also sets <c>missing</c> (D) where a pixel is NaN (its bytes are then 0).
    /// </summary>
    public delegate void Reader(long rowIndex, Span<byte> destination, Span<bool> missing);

    /// <summary>A <see cref="Reader"/> of the current row of <paramref name="row"/>.</summary>
    public Reader CreateReader(DataViewRow row)
    {
        var column = row.Schema[Name];
        CheckType(column.Type);
        if (((VectorDataViewType)column.Type).ItemType == NumberDataViewType.Byte)
        {
            var getter = row.GetGetter<VBuffer<byte>>(column);
            var buffer = default(VBuffer<byte>);
            var dense = new byte[Size];
            return (rowIndex, destination, missing) =>
            {
                getter(ref buffer);
                buffer.CopyTo(dense);
                if (AllowMissing) missing.Clear();
                for (int i = 0; i < dense.Length; i++)
                    if (dense[i] >= Categories)
                        throw new InvalidDataException($"Column '{Name}', row {rowIndex}, value index {i}: {dense[i]} is outside the pixel range 0..{Categories - 1}.");
                Reorder(dense, destination);
            };
        }
        else
        {
            var getter = row.GetGetter<VBuffer<float>>(column);
            var buffer = default(VBuffer<float>);
            var dense = new float[Size];
            var quantised = new byte[Size];
            var nan = new bool[Size];
            var ordered = new bool[Size];
            return (rowIndex, destination, missing) =>
            {
                getter(ref buffer);
                buffer.CopyTo(dense);
                bool anyMissing = false;
                for (int i = 0; i < dense.Length; i++)
                {
                    nan[i] = AllowMissing && float.IsNaN(dense[i]);
                    anyMissing |= nan[i];
                    quantised[i] = nan[i] ? (byte)0 : Quantise(dense[i], rowIndex, i);
                }
                Reorder(quantised, destination);
                if (!AllowMissing) return;
                missing.Clear();
                if (anyMissing) MarkMissing(nan, ordered, missing, rowIndex);
            };
        }
    }

    /// <summary>Per-value NaN flags in column order → per-pixel missing flags; a pixel is missing only when all its channels are NaN.</summary>
    void MarkMissing(bool[] nan, bool[] ordered, Span<bool> missing, long rowIndex)
    {
        Reorder(nan, ordered);
        for (int d = 0; d < Height * Width; d++)
        {
            int count = 0;
            for (int c = 0; c < Channels; c++) if (ordered[d * Channels + c]) count++;
            if (count == 0) continue;
            if (count < Channels)
                throw new InvalidDataException(
                    $"Column '{Name}', row {rowIndex}: pixel {d} (row {d / Width}, column {d % Width}) is NaN in {count} of its {Channels} channels; " +
                    "a missing pixel must be NaN in every channel.");
            missing[d] = true;
        }
    }

    /// <summary>
    /// The circuit's (pixel, channel) bytes of one image → the column's values: divided by <see cref="Scale"/> and in
    /// the column's layout (the inverse of what the reader does).
    /// </summary>
    public void WriteValues(ReadOnlySpan<byte> pixels, Span<float> destination)
    {
        int count = Height * Width;
        bool planar = Channels > 1 && Layout == ChannelLayout.Planar;
        for (int d = 0; d < count; d++)
            for (int c = 0; c < Channels; c++)
                destination[planar ? c * count + d : d * Channels + c] = pixels[d * Channels + c] / Scale;
    }

    byte Quantise(float value, long row, int index)
    {
        float scaled = value * Scale;
        float rounded = MathF.Round(scaled);
        if (float.IsNaN(value))
            throw new InvalidDataException($"Column '{Name}', row {row}, value index {index}: NaN is not a pixel value (expected {Expected} in 0..{Categories - 1} after PixelScale {Scale}).");
        if (MathF.Abs(scaled - rounded) > 0.01f || rounded < 0 || rounded > Categories - 1)
            throw new InvalidDataException(
                $"Column '{Name}', row {row}, value index {index}: {value} (×PixelScale {Scale} = {scaled}) is not a pixel value on the 0..{Categories - 1} grid" +
                (Scale == 1f && value is > 0 and < 1 ? "; for values in 0..1 set PixelScale = 255." : "."));
        return (byte)rounded;
    }

    /// <summary>Column order → the circuit's (pixel, channel) order.</summary>
    void Reorder<T>(T[] values, Span<T> destination)
    {
        if (Channels == 1 || Layout == ChannelLayout.Interleaved)
        {
            values.CopyTo(destination);
            return;
        }
        int pixels = Height * Width;
        for (int c = 0; c < Channels; c++)
            for (int d = 0; d < pixels; d++)
                destination[d * Channels + c] = values[c * pixels + d];
    }
}
