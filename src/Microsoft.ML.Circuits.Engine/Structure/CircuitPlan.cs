using System.Collections.Immutable;
using Microsoft.ML.Circuits.RegionGraphs;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// A region graph folded into layers (pure C#, no tensors): the input regions, then sum-product and mixing layers
/// from the inputs to the root, each with the indices that gather its inputs. Built by <see cref="CircuitPlanner"/>;
/// everything the parameter counts depend on is decided here.
/// </summary>
public sealed class CircuitPlan
{
    internal CircuitPlan(RegionGraph graph, int units, int inputUnits, ImmutableArray<int> inputRegions,
        ImmutableArray<ImmutableArray<int>> inputRows, ImmutableArray<FoldedLayerPlan> layers)
    {
        Graph = graph; Units = units; InputUnits = inputUnits; InputRegions = inputRegions; InputRows = inputRows; Layers = layers;
    }

    /// <summary>The region graph the plan folds.</summary>
    public RegionGraph Graph { get; }

    /// <summary>K: units of inner layers.</summary>
    public int Units { get; }

    /// <summary>K_in: units of the input layer.</summary>
    public int InputUnits { get; }

    /// <summary>Ids of the input regions, in the fold order of the input layer's output.</summary>
    public ImmutableArray<int> InputRegions { get; }

    /// <summary>
    /// For each input region (fold), the rows of the input layer's output it multiplies: row = variable·P + replica,
    /// with P = <see cref="RegionGraph.Replicas"/>.
    /// </summary>
    public ImmutableArray<ImmutableArray<int>> InputRows { get; }

    /// <summary>The folded inner layers from the inputs to the root; the last has one fold and one unit.</summary>
    public ImmutableArray<FoldedLayerPlan> Layers { get; }

    /// <summary>
    /// What the plan was built from: the region graph's <see cref="RegionGraph.Fingerprint"/>, K and K_in. A circuit
    /// refuses a plan whose fingerprint differs from the one its description builds.
    /// </summary>
    public string Fingerprint => FingerprintOf(Graph, Units, InputUnits);

    /// <summary>The <see cref="Fingerprint"/> a plan of <paramref name="graph"/> with K and K_in has.</summary>
    internal static string FingerprintOf(RegionGraph graph, int units, int inputUnits) => $"{graph.Fingerprint}/K={units}/K_in={inputUnits}";

    /// <summary>Number of variables D.</summary>
    public int Variables => Graph.VariableCount;

    /// <summary>Number of input replicas P.</summary>
    public int Replicas => Graph.Replicas;

    /// <summary>Number of region-graph layers (sum-product layers).</summary>
    public int RegionGraphLayers => Layers.Count(l => l.Role == FoldedLayerRole.SumProduct);
}
