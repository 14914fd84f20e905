using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Circuits.RegionGraphs;

namespace Microsoft.ML.Circuits;

/// <summary>
/// The single, immutable description of a tensorized circuit: the image it models, its region graph, its layers and
/// how they are parameterised. It is what model files store, what <c>info</c> prints, and what a circuit is rebuilt
/// from. <see cref="Validate"/> checks every option and names the one that is wrong.
/// </summary>
public sealed record CircuitDescription
{
    /// <summary>The number of categories per channel used for 8-bit images.</summary>
    public const int ByteCategories = 256;

    /// <summary>Image height in pixels (rows).</summary>
    public int ImageHeight { get; init; } = 28;

    /// <summary>Image width in pixels (columns).</summary>
    public int ImageWidth { get; init; } = 28;

    /// <summary>Channels per pixel (1 for grayscale, 3 for RGB). A pixel's channels belong to one variable.</summary>
    public int Channels { get; init; } = 1;

    /// <summary>Categories per channel: pixel values lie in 0..Categories−1; 2..256, since pixels are bytes. 256 for 8-bit images.</summary>
    public int Categories { get; init; } = ByteCategories;

    /// <summary>The region graph.</summary>
    public RegionGraphKind RegionGraph { get; init; } = RegionGraphKind.QuadGraph;

    /// <summary>Distance between Poon–Domingos cut points (only for <see cref="RegionGraphKind.PoonDomingos"/>).</summary>
    public int PoonDomingosDelta { get; init; } = RegionGraphs.PoonDomingos.DefaultDelta;

    /// <summary>Random binary tree depth; null for ceil(log2 D) (only for <see cref="RegionGraphKind.RandomBinaryTree"/>).</summary>
    public int? TreeDepth { get; init; }

    /// <summary>Random binary tree repetitions, each with its own input replica (the original's <c>--num-replica</c>).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Seed of the random binary tree's shuffles.</summary>
    public int TreeSeed { get; init; } = 42;

    /// <summary>The sum-product layer kind.</summary>
    public LayerKind Layer { get; init; } = LayerKind.CP;

    /// <summary>K: units per region in every inner layer (the root has one).</summary>
    public int Units { get; init; } = 16;

    /// <summary>Units of the categorical input layer per pixel; null means <see cref="Units"/>.</summary>
    public int? InputUnits { get; init; }

    /// <summary>Rank R of <see cref="LayerKind.UncollapsedCP"/> layers; ignored by other layers.</summary>
    public int? Rank { get; init; }

    /// <summary>How inner weights are parameterised.</summary>
    public Reparameterization Reparameterization { get; init; } = Reparameterization.Clamp;

    /// <summary>Which mixing layers are frozen at 0.5.</summary>
    public MixingFreeze FreezeMixing { get; init; } = MixingFreeze.All;

    /// <summary>Number of variables D = H·W (pixels).</summary>
    [JsonIgnore] public int Variables => ImageHeight * ImageWidth;

    /// <summary>Units of the input layer (K_in).</summary>
    [JsonIgnore] public int EffectiveInputUnits => InputUnits ?? Units;

    /// <summary>Dimension of the data for bits per dimension: D·C.</summary>
    [JsonIgnore] public int Dimensions => Variables * Channels;

    /// <summary>Checks every option; throws an <see cref="ArgumentException"/> naming the first wrong one and its allowed range.</summary>
    public CircuitDescription Validate()
    {
        Require(ImageHeight >= 1 && ImageHeight <= 4096, nameof(ImageHeight), ImageHeight, "1..4096");
        Require(ImageWidth >= 1 && ImageWidth <= 4096, nameof(ImageWidth), ImageWidth, "1..4096");
        Require(Channels >= 1 && Channels <= 16, nameof(Channels), Channels, "1..16");
        Require(Categories >= 2 && Categories <= ByteCategories, nameof(Categories), Categories, $"2..{ByteCategories} (pixels are bytes)");
        Require(Enum.IsDefined(RegionGraph), nameof(RegionGraph), RegionGraph, string.Join(", ", Enum.GetNames<RegionGraphKind>()));
        Require(Enum.IsDefined(Layer), nameof(Layer), Layer, string.Join(", ", Enum.GetNames<LayerKind>()));
        Require(Enum.IsDefined(Reparameterization), nameof(Reparameterization), Reparameterization, string.Join(", ", Enum.GetNames<Reparameterization>()));
        Require(Enum.IsDefined(FreezeMixing), nameof(FreezeMixing), FreezeMixing, string.Join(", ", Enum.GetNames<MixingFreeze>()));
        Require(Units >= 1 && Units <= 65536, nameof(Units), Units, "1..65536 (K must be positive)");
        Require(EffectiveInputUnits >= 1 && EffectiveInputUnits <= 65536, nameof(InputUnits), EffectiveInputUnits, "1..65536 (K_in must be positive)");
        if (Layer == LayerKind.UncollapsedCP)
            Require(Rank is >= 1 and <= 65536, nameof(Rank), Rank?.ToString() ?? "none", "1..65536 (uncollapsed CP needs a positive rank)");
        else if (Rank is not null)
            Require(Rank >= 1, nameof(Rank), Rank, "1..65536");
        Require(PoonDomingosDelta >= 1, nameof(PoonDomingosDelta), PoonDomingosDelta, "1 or more");
        Require(Replicas >= 1 && Replicas <= 1024, nameof(Replicas), Replicas, "1..1024");
        if (Replicas > 1)
            Require(RegionGraph == RegionGraphKind.RandomBinaryTree, nameof(Replicas), Replicas, "1 unless the region graph is a random binary tree");
        if (TreeDepth is not null)
            Require(TreeDepth >= 1, nameof(TreeDepth), TreeDepth, "1 or more");
        int minimumPixels = 2;
        if ((long)ImageHeight * ImageWidth < minimumPixels)
            throw new ArgumentException($"{nameof(ImageHeight)}×{nameof(ImageWidth)}: a {ImageHeight}×{ImageWidth} image is too small for region graph {RegionGraph}; it needs at least {minimumPixels} pixels.", nameof(ImageHeight));
        return this;
    }

    static void Require(bool ok, string option, object? value, string allowed)
    {
        if (!ok)
            throw new ArgumentOutOfRangeException(option, value, $"{option} = {value} is not allowed; allowed: {allowed}.");
    }

    /// <summary>Builds the region graph this description names.</summary>
    public RegionGraph BuildRegionGraph()
    {
        Validate();
        return RegionGraph switch
        {
            RegionGraphKind.QuadTree => QuadTree.CreateFourWay(ImageHeight, ImageWidth),
            RegionGraphKind.QuadTree2 => QuadTree.CreateBinary(ImageHeight, ImageWidth),
            RegionGraphKind.QuadGraph => QuadGraph.Create(ImageHeight, ImageWidth),
            RegionGraphKind.PoonDomingos => PoonDomingos.Create(ImageHeight, ImageWidth, PoonDomingosDelta),
            RegionGraphKind.RandomBinaryTree => RandomBinaryTree.Create(Variables, TreeDepth, Replicas, TreeSeed),
            _ => throw new ArgumentOutOfRangeException(nameof(RegionGraph)),
        };
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Serialises the description as JSON (enums by name).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads a description written by <see cref="ToJson"/> and validates it.</summary>
    public static CircuitDescription FromJson(string json)
    {
        CircuitDescription? description;
        try { description = JsonSerializer.Deserialize<CircuitDescription>(json, JsonOptions); }
        catch (JsonException e) { throw new InvalidDataException($"The circuit description is not valid JSON for this version: {e.Message}", e); }
        if (description is null) throw new InvalidDataException("The circuit description is empty.");
        try { return description.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"The circuit description is invalid: {e.Message}", e); }
    }

    /// <summary>A one-line human-readable summary, e.g. <c>QG cp K=16 on 28×28×1</c>.</summary>
    public override string ToString()
    {
        string layer = Names.Of(Layer) + (Layer == LayerKind.UncollapsedCP ? $" R={Rank}" : "");
        string kin = InputUnits is null ? "" : $" K_in={InputUnits}";
        return $"{Names.Of(RegionGraph)} {layer} K={Units}{kin} on {ImageHeight}×{ImageWidth}×{Channels} " +
               $"({Categories} categories, {Names.Of(Reparameterization)}, frozen mixing: {Names.Of(FreezeMixing)})";
    }
}
