using System.Buffers.Binary;
using System.Reflection;

namespace Microsoft.ML.Circuits.Onnx;

/// <summary>ONNX tensor element types (<c>TensorProto.DataType</c>) the exporter uses.</summary>
internal enum OnnxElementType
{
    Float = 1,
    UInt8 = 2,
    Int64 = 7,
    Bool = 9,
}

/// <summary>
/// An ONNX graph under construction — nodes of the default operator set, initialisers, inputs and outputs — and its
/// serialisation as a <c>ModelProto</c> (IR version <see cref="IrVersion"/>, opset <see cref="OpsetVersion"/>). Field
/// numbers are those of <c>onnx/onnx.proto3</c> in the ONNX repository; only the fields written here are used.
/// </summary>
internal sealed class OnnxGraph
{
    /// <summary>The default-domain operator set the graph is written against (supported by ONNX Runtime ≥ 1.12).</summary>
    public const int OpsetVersion = 17;

    /// <summary>The IR version that goes with opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>The symbolic name of the batch dimension.</summary>
    public const string BatchDimension = "N";

    sealed record Node(string Op, string Name, string[] Inputs, string[] Outputs, (string Name, object Value)[] Attributes);
    sealed record Initializer(string Name, OnnxElementType Type, long[] Dims, byte[] Data);
    sealed record ValueInfo(string Name, OnnxElementType Type, object[] Dims, string Doc);

    readonly List<Node> nodes = [];
    readonly List<Initializer> initializers = [];
    readonly List<ValueInfo> inputs = [], outputs = [];
    readonly Dictionary<string, string> intConstants = [];
    readonly HashSet<string> names = [], initializerNames = [];
    int counter;

    /// <summary>A fresh value name starting with <paramref name="prefix"/>.</summary>
    public string NewName(string prefix)
    {
        string name;
        do name = $"{prefix}_{counter++}"; while (!names.Add(name));
        return name;
    }

    void Reserve(string name)
    {
        if (!names.Add(name)) throw new InvalidOperationException($"The ONNX graph already has a value called '{name}'.");
    }

    /// <summary>Adds a node of operator <paramref name="op"/> and returns its (single) output's name.</summary>
    /// <param name="op">The operator (default domain).</param>
    /// <param name="scope">A prefix for the node and output names (e.g. <c>layer3</c>).</param>
    /// <param name="inputs">Input value names.</param>
    /// <param name="attributes">Attributes: <see cref="long"/>, <see cref="float"/> or <c>long[]</c> values.</param>
    /// <param name="output">The output's name, or null for a fresh one.</param>
    public string Add(string op, string scope, string[] inputs, (string Name, object Value)[]? attributes = null, string? output = null)
    {
        if (output is null) output = NewName($"{scope}/{op}");
        else Reserve(output);
        nodes.Add(new Node(op, $"{scope}/{op}_{nodes.Count}", inputs, [output], attributes ?? []));
        return output;
    }

    /// <summary>A float initialiser.</summary>
    public string Constant(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var data = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), values[i]);
        return AddInitializer(name, OnnxElementType.Float, dims, data, values.Length);
    }

    /// <summary>An int64 initialiser.</summary>
    public string Constant(string name, ReadOnlySpan<long> values, params long[] dims)
    {
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);
        return AddInitializer(name, OnnxElementType.Int64, dims, data, values.Length);
    }

    /// <summary>A bool initialiser.</summary>
    public string Constant(string name, ReadOnlySpan<bool> values, params long[] dims)
    {
        var data = new byte[values.Length];
        for (int i = 0; i < values.Length; i++) data[i] = values[i] ? (byte)1 : (byte)0;
        return AddInitializer(name, OnnxElementType.Bool, dims, data, values.Length);
    }

    /// <summary>A float scalar (0-d) initialiser.</summary>
    public string Scalar(string name, float value) => Constant(name, [value]);

    /// <summary>A shared 1-d int64 initialiser (shapes, axes), one per distinct value list.</summary>
    public string Ints(params long[] values)
    {
        string key = string.Join(",", values);
        if (!intConstants.TryGetValue(key, out var name))
        {
            name = Constant(NewName("const/ints"), values, values.Length);
            intConstants[key] = name;
        }
        return name;
    }

    string AddInitializer(string name, OnnxElementType type, long[] dims, byte[] data, int count)
    {
        long expected = dims.Aggregate(1L, (a, b) => a * b);
        if (expected != count)
            throw new ArgumentException($"Initialiser '{name}' has {count} values but its shape ({string.Join(", ", dims)}) holds {expected}.", nameof(dims));
        if (!initializerNames.Add(name)) throw new InvalidOperationException($"The ONNX graph already has an initialiser called '{name}'.");
        names.Add(name);
        initializers.Add(new Initializer(name, type, dims, data));
        return name;
    }

    /// <summary>Declares a graph input; dimensions are <see cref="long"/> sizes or <see cref="string"/> symbols.</summary>
    public void AddInput(string name, OnnxElementType type, object[] dims, string doc)
    {
        Reserve(name);
        inputs.Add(new ValueInfo(name, type, dims, doc));
    }

    /// <summary>Declares the value <paramref name="name"/> (already produced by a node) a graph output.</summary>
    public void AddOutput(string name, OnnxElementType type, object[] dims, string doc) => outputs.Add(new ValueInfo(name, type, dims, doc));

    /// <summary>The largest model this writer produces: protocol buffers (and so ONNX files without external data) stop at 2 GiB.</summary>
    internal const long MaxModelBytes = int.MaxValue - (64L << 20);

    /// <summary>Writes the graph as an ONNX <c>ModelProto</c>.</summary>
    /// <exception cref="NotSupportedException">The weights exceed what one protobuf file holds.</exception>
    public void Write(Stream stream, string graphName, string docString, IReadOnlyDictionary<string, string> metadata)
    {
        long weightBytes = initializers.Sum(i => (long)i.Data.Length);
        if (weightBytes > MaxModelBytes)
            throw new NotSupportedException(
                $"The circuit's initialisers take {weightBytes / 1048576.0:F0} MiB; an ONNX file without external data holds at most 2 GiB, " +
                "and this exporter writes no external data. Export a smaller circuit (fewer units K, or a compressed one).");
        var model = new ProtobufWriter();
        model.Int64(1, IrVersion);
        model.String(2, "Microsoft.ML.Circuits");
        model.String(3, typeof(OnnxGraph).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "");
        model.String(6, docString);
        model.Message(7, WriteGraph(graphName));
        model.Message(8, opset => { opset.String(1, ""); opset.Int64(2, OpsetVersion); });
        foreach (var (key, value) in metadata)
            model.Message(14, entry => { entry.String(1, key); entry.String(2, value); });
        stream.Write(model.Written);
    }

    Action<ProtobufWriter> WriteGraph(string name) => graph =>
    {
        foreach (var node in nodes) graph.Message(1, n => WriteNode(n, node));
        graph.String(2, name);
        foreach (var initializer in initializers)
            graph.Message(5, t =>
            {
                t.PackedInt64(1, initializer.Dims);
                t.Int64(2, (long)initializer.Type);
                t.String(8, initializer.Name);
                t.Bytes(9, initializer.Data);
            });
        foreach (var input in inputs) graph.Message(11, v => WriteValueInfo(v, input));
        foreach (var output in outputs) graph.Message(12, v => WriteValueInfo(v, output));
    };

    static void WriteNode(ProtobufWriter n, Node node)
    {
        foreach (var input in node.Inputs) n.String(1, input);
        foreach (var output in node.Outputs) n.String(2, output);
        n.String(3, node.Name);
        n.String(4, node.Op);
        foreach (var (name, value) in node.Attributes)
            n.Message(5, a =>
            {
                a.String(1, name);
                switch (value)
                {
                    case long i: a.Int64(3, i, writeZero: true); a.Int64(20, 2); break;
                    case int i: a.Int64(3, i, writeZero: true); a.Int64(20, 2); break;
                    case float f: a.Float(2, f); a.Int64(20, 1); break;
                    case long[] ints: a.PackedInt64(8, ints); a.Int64(20, 7); break;
                    default: throw new ArgumentException($"Attribute '{name}' of {node.Op} has an unsupported type {value.GetType()}.");
                }
            });
    }

    static void WriteValueInfo(ProtobufWriter v, ValueInfo info)
    {
        v.String(1, info.Name);
        v.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int64(1, (long)info.Type);
            tensor.Message(2, shape =>
            {
                foreach (var dim in info.Dims)
                    shape.Message(1, d =>
                    {
                        if (dim is string symbol) d.String(2, symbol);
                        else d.Int64(1, Convert.ToInt64(dim), writeZero: true);
                    });
            });
        }));
        v.String(3, info.Doc);
    }
}
