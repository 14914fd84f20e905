using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits;

/// <summary>
/// A circuit with its weights and metadata: the unit that is saved, loaded, scored with and wrapped in ML.NET model
/// zips. The binary payload is self-contained and versioned:
/// <code>
/// "MLCIRCUIT\n"  format version (int32 LE)
/// description JSON, metadata JSON            (each: int32 LE byte length + UTF-8)
/// tensor count (int32), then per tensor:      name, dtype (int32: 6 = float32), rank, shape (int64 each), data (LE)
/// SHA-256 of every preceding byte            (32 bytes)
/// </code>
/// Loading checks the magic, the version, the checksum, the description and that every tensor matches the circuit
/// the description builds, and fails with an <see cref="InvalidDataException"/> that says which check failed.
/// </summary>
public sealed class CircuitModel : IDisposable
{
    /// <summary>The current payload format version.</summary>
    public const int FormatVersion = 1;

    static readonly byte[] Magic = "MLCIRCUIT\n"u8.ToArray();
    const int Float32Code = 6;
    static readonly JsonSerializerOptions JsonOptions = new()
    {
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Wraps a circuit (owned by the model from now on) and its metadata.</summary>
    public CircuitModel(TensorizedCircuit circuit, ModelMetadata? metadata = null)
    {
        Circuit = circuit ?? throw new ArgumentNullException(nameof(circuit));
        Metadata = metadata ?? new ModelMetadata();
    }

    /// <summary>The circuit and its weights.</summary>
    public TensorizedCircuit Circuit { get; }

    /// <summary>Training and compression records.</summary>
    public ModelMetadata Metadata { get; set; }

    /// <summary>The description the circuit was built from.</summary>
    public CircuitDescription Description => Circuit.Description;

    /// <summary>Writes the payload to <paramref name="stream"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Write(ReadOnlySpan<byte> bytes) { stream.Write(bytes); hash.AppendData(bytes); }
        void Int32(int value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, value); Write(b); }
        void Int64(long value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, value); Write(b); }
        void Text(string value) { byte[] b = Encoding.UTF8.GetBytes(value); Int32(b.Length); Write(b); }

        Write(Magic);
        Int32(FormatVersion);
        Text(Description.ToJson());
        Text(JsonSerializer.Serialize(Metadata, JsonOptions));
        var state = Circuit.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        Int32(state.Count);
        foreach (var (name, tensor) in state)
        {
            Text(name);
            Int32(Float32Code);
            Int32((int)tensor.ndim);
            foreach (long d in tensor.shape) Int64(d);
            using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
            Write(cpu.bytes);
        }
        stream.Write(hash.GetHashAndReset());
    }

    /// <summary>Reads a payload written by <see cref="Save(Stream)"/> and builds the circuit on <paramref name="device"/>.</summary>
    /// <exception cref="InvalidDataException">Not a circuit model, an unsupported version, corrupt or truncated.</exception>
    public static CircuitModel Load(Stream stream, Device? device = null, string source = "the model")
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Read(Span<byte> buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                int n = stream.Read(buffer[done..]);
                if (n == 0) throw new InvalidDataException($"{source} is truncated: the data ends early.");
                done += n;
            }
            hash.AppendData(buffer);
        }
        int Int32() { Span<byte> b = stackalloc byte[4]; Read(b); return BinaryPrimitives.ReadInt32LittleEndian(b); }
        long Int64() { Span<byte> b = stackalloc byte[8]; Read(b); return BinaryPrimitives.ReadInt64LittleEndian(b); }
        string Text(int limit)
        {
            int length = Int32();
            if (length < 0 || length > limit) throw new InvalidDataException($"{source} is corrupt: a text field claims {length} bytes.");
            if (stream.CanSeek && length > stream.Length - stream.Position)
                throw new InvalidDataException($"{source} is truncated: a text field claims {length} bytes, more than the rest of the file holds.");
            // In growing chunks, like the tensors: a corrupt length on a stream of unknown length allocates no more
            // than about twice the bytes actually present.
            var b = new byte[Math.Min(length, 1 << 16)];
            int done = 0;
            while (true)
            {
                Read(b.AsSpan(done));
                done = b.Length;
                if (done == length) return Encoding.UTF8.GetString(b);
                Array.Resize(ref b, (int)Math.Min(length, 2L * done));
            }
        }

        // Reads a tensor's data in growing chunks, so that a corrupt element count on a stream of unknown length
        // allocates no more than about twice the data actually present.
        float[] ReadFloats(long elements)
        {
            var data = new float[Math.Min(elements, 1L << 18)];
            long done = 0;
            while (true)
            {
                Read(MemoryMarshal.AsBytes(data.AsSpan((int)done)));
                done = data.Length;
                if (done == elements) return data;
                Array.Resize(ref data, (int)Math.Min(elements, 2 * done));
            }
        }

        var magic = new byte[Magic.Length];
        try { Read(magic); }
        catch (InvalidDataException) { throw new InvalidDataException($"{source} is not a circuit model (too short)."); }
        if (!magic.AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException($"{source} is not a circuit model (wrong magic bytes).");
        int version = Int32();
        if (version < 1 || version > FormatVersion)
            throw new InvalidDataException($"{source} has format version {version}; this library reads versions 1..{FormatVersion}.");
        var description = CircuitDescription.FromJson(Text(1 << 20));
        ModelMetadata metadata;
        try
        {
            string json = Text(64 << 20);
            using var document = JsonDocument.Parse(json);
            metadata = document.Deserialize<ModelMetadata>(JsonOptions) ?? new ModelMetadata();
            bool Has(string field) => document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(field, out _);
            if (!Has("MetadataVersion")) metadata = metadata with { Version = 1 };
            // Written before ScoringMode existed: those versions scored on the managed reference.
            if (!Has(nameof(ModelMetadata.Scoring))) metadata = metadata with { Scoring = ScoringMode.Reference };
        }
        catch (JsonException e) { throw new InvalidDataException($"{source} is corrupt: its metadata is not valid JSON ({e.Message}).", e); }
        if (!Enum.IsDefined(metadata.Scoring))
            throw new InvalidDataException($"{source} is corrupt: its metadata's Scoring is {(int)metadata.Scoring}; expected {ScoringMode.Fast} or {ScoringMode.Reference}.");

        var tensors = new Dictionary<string, (long[] Shape, float[] Data)>();
        int count = Int32();
        if (count < 0 || count > 100_000) throw new InvalidDataException($"{source} is corrupt: it claims {count} tensors.");
        for (int i = 0; i < count; i++)
        {
            string name = Text(1024);
            int dtype = Int32();
            if (dtype != Float32Code) throw new InvalidDataException($"{source}: tensor {name} has unsupported type code {dtype}.");
            int rank = Int32();
            if (rank < 0 || rank > 8) throw new InvalidDataException($"{source} is corrupt: tensor {name} claims rank {rank}.");
            var shape = new long[rank];
            long elements = 1;
            for (int d = 0; d < rank; d++)
            {
                shape[d] = Int64();
                if (shape[d] < 0 || shape[d] > int.MaxValue) throw new InvalidDataException($"{source} is corrupt: tensor {name} has dimension {shape[d]}.");
                elements *= shape[d];
                if (elements > (long)Array.MaxLength) throw new InvalidDataException($"{source}: tensor {name} is too large ({elements} elements).");
            }
            if (stream.CanSeek && elements * sizeof(float) > stream.Length - stream.Position)
                throw new InvalidDataException($"{source} is truncated: tensor {name} claims {elements} elements, more than the rest of the file holds.");
            var data = ReadFloats(elements);
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian machines are not supported.");
            if (!tensors.TryAdd(name, (shape, data))) throw new InvalidDataException($"{source} is corrupt: tensor {name} appears twice.");
        }
        var expected = hash.GetHashAndReset();
        var stored = new byte[expected.Length];
        int got = 0;
        while (got < stored.Length) { int n = stream.Read(stored, got, stored.Length - got); if (n == 0) break; got += n; }
        if (got != stored.Length) throw new InvalidDataException($"{source} is truncated: the checksum is missing.");
        if (!stored.AsSpan().SequenceEqual(expected)) throw new InvalidDataException($"{source} is corrupt: its SHA-256 checksum does not match its content.");

        // Build the circuit only when the file holds the weights it needs: a description altered to ask for a huge
        // circuit must not allocate more than the file justifies.
        long weights = tensors.Values.Sum(t => (long)t.Data.Length);
        long inputWeights = (long)description.Variables * description.Channels * description.EffectiveInputUnits * description.Categories;
        if (inputWeights > weights)
            throw new InvalidDataException($"{source} does not match its description ({description}): its input layer alone needs {inputWeights} weights, the file holds {weights}.");
        var plan = Structure.CircuitPlanner.Build(description);
        long needed = Structure.ParameterCount.Of(plan, description).Trainable; // frozen mixing weights may be constants, not stored
        if (needed > weights)
            throw new InvalidDataException($"{source} does not match its description ({description}): it needs {needed} weights, the file holds {weights}.");
        var circuit = new TensorizedCircuit(description, plan, seed: 0, device: device);
        try
        {
            using var _ = torch.no_grad();
            var state = circuit.state_dict();
            var missing = state.Keys.Except(tensors.Keys).ToList();
            var extra = tensors.Keys.Except(state.Keys).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new InvalidDataException($"{source} does not match its description ({description}): " +
                    (missing.Count > 0 ? $"missing {string.Join(", ", missing)}" : "") + (extra.Count > 0 ? $" unexpected {string.Join(", ", extra)}" : ""));
            foreach (var (name, target) in state)
            {
                var (shape, data) = tensors[name];
                if (!shape.SequenceEqual(target.shape))
                    throw new InvalidDataException($"{source}: tensor {name} has shape ({string.Join(", ", shape)}) but the description needs ({string.Join(", ", target.shape)}).");
                using var loaded = torch.tensor(data, shape);
                target.copy_(loaded);
            }
            circuit.MarkParametersChanged();
            return new CircuitModel(circuit, metadata);
        }
        catch
        {
            circuit.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Saves to <paramref name="path"/> atomically: the payload goes to a temporary file in the same folder, which
    /// then replaces <paramref name="path"/>; a crash never leaves a half-written model.
    /// </summary>
    /// <param name="path">Destination file; its folder is created.</param>
    /// <param name="overwrite">When false, an existing file is never replaced (an <see cref="IOException"/> is thrown).</param>
    public void SaveFile(string path, bool overwrite = true) => AtomicFile.Write(path, Save, overwrite);

    /// <summary>Loads a payload file written by <see cref="SaveFile"/>.</summary>
    public static CircuitModel LoadFile(string path, Device? device = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: {path}", path);
        using var stream = new BufferedStream(File.OpenRead(path), 1 << 20);
        return Load(stream, device, path);
    }

    /// <summary>A copy of the model (weights and metadata) whose circuit lives on <paramref name="device"/>.</summary>
    public CircuitModel CopyTo(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var copy = new TensorizedCircuit(Description, Circuit.Plan, seed: 0, device: device);
        using var _ = torch.no_grad();
        var source = Circuit.state_dict();
        foreach (var (name, target) in copy.state_dict())
            target.copy_(source[name]);
        copy.MarkParametersChanged();
        return new CircuitModel(copy, Metadata);
    }

    /// <summary>Disposes the circuit.</summary>
    public void Dispose() => Circuit.Dispose();
}
