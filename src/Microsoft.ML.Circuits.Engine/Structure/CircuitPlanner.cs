using System.Collections.Immutable;
using Microsoft.ML.Circuits.RegionGraphs;

namespace Microsoft.ML.Circuits.Structure;

/// <summary>
/// Folds a region graph into a <see cref="CircuitPlan"/>. Layering is top-down: repeatedly take the inner regions
/// all of whose consumers have been taken, then the partitions of those regions; the list is then reversed, so each
/// region-graph layer is (partitions, the regions they decompose). Every such layer becomes one folded sum-product
/// layer (F = its partitions) followed, when some of its regions have several partitions, by one folded mixing
/// layer. Within a layer, nodes are ordered by (sorted scope, id), which makes the plan deterministic.
/// </summary>
public static class CircuitPlanner
{
    /// <summary>Builds the plan of a validated description.</summary>
    public static CircuitPlan Build(CircuitDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        description.Validate();
        return Build(description.BuildRegionGraph(), description.Units, description.EffectiveInputUnits, description.Layer);
    }

    /// <summary>Folds <paramref name="graph"/> for K = <paramref name="units"/> and K_in = <paramref name="inputUnits"/>.</summary>
    /// <exception cref="ArgumentException">The layer kind cannot be used on this graph (Tucker needs binary
    /// partitions), or K_in ≠ K on a graph whose layers combine input regions with inner regions.</exception>
    public static CircuitPlan Build(RegionGraph graph, int units, int inputUnits, LayerKind layer)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfLessThan(units, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputUnits, 1);

        if (layer == LayerKind.Tucker)
        {
            var wide = graph.Partitions.FirstOrDefault(p => p.Inputs.Length != 2);
            if (wide is not null)
                throw new ArgumentException(
                    $"The Tucker layer needs binary partitions (arity 2), but this region graph has a partition of arity {wide.Inputs.Length}. " +
                    "Use a region graph with binary partitions (QG, QT2, PD, BT) or a CP layer (cp, cp-s, cp-xs).", nameof(layer));
        }

        var rgLayers = TopDownLayers(graph);
        var inputRegions = graph.InputRegions.ToList();
        inputRegions.Sort((a, b) => CompareNodes(a.Scope, a.Id, b.Scope, b.Id));

        // Where each region's output lives: (source, fold), source 0 = input regions, i ≥ 1 = Layers[i - 1].
        var location = new Dictionary<int, (int Source, int Fold)>();
        for (int i = 0; i < inputRegions.Count; i++) location[inputRegions[i].Id] = (0, i);
        var foldsOfSource = new List<int> { inputRegions.Count };
        var unitsOfSource = new List<int> { inputUnits };
        var layers = ImmutableArray.CreateBuilder<FoldedLayerPlan>();

        for (int l = 0; l < rgLayers.Count; l++)
        {
            var (partitions, regions) = rgLayers[l];
            bool last = l == rgLayers.Count - 1;
            int outputUnits = last ? 1 : units;

            var partitionInputs = partitions
                .Select(p => p.Inputs.Select(i => graph.Regions[i]).OrderBy(r => r, RegionOrder.Instance).Select(r => location[r.Id]).ToArray())
                .ToList();
            var sumProduct = MakeLayer(layers.Count, FoldedLayerRole.SumProduct, partitionInputs, outputUnits,
                [.. partitions.Select(p => p.Id)], foldsOfSource, unitsOfSource);
            layers.Add(sumProduct);
            int sumProductSource = layers.Count;
            foldsOfSource.Add(sumProduct.Folds);
            unitsOfSource.Add(outputUnits);

            var foldOfPartition = partitions.Select((p, f) => (p.Id, f)).ToDictionary(t => t.Id, t => t.f);
            var mixed = new List<Region>();
            foreach (var region in regions)
            {
                if (region.Partitions.Length == 1)
                    location[region.Id] = (sumProductSource, foldOfPartition[region.Partitions[0]]);
                else
                    mixed.Add(region);
            }
            if (mixed.Count == 0) continue;

            var mixingInputs = mixed
                .Select(r => r.Partitions.Select(p => (sumProductSource, foldOfPartition[p])).OrderBy(t => t.Item2).ToArray())
                .ToList();
            var mixing = MakeLayer(layers.Count, FoldedLayerRole.Mixing, mixingInputs, outputUnits,
                [.. mixed.Select(r => r.Id)], foldsOfSource, unitsOfSource);
            layers.Add(mixing);
            foldsOfSource.Add(mixing.Folds);
            unitsOfSource.Add(outputUnits);
            for (int f = 0; f < mixed.Count; f++) location[mixed[f].Id] = (layers.Count, f);
        }

        if (layers.Count == 0)
            throw new ArgumentException("The region graph has no partitions, so there is no circuit to build.", nameof(graph));
        var root = location[graph.Root.Id];
        if (root.Source != layers.Count || layers[^1].Folds != 1 || layers[^1].OutputUnits != 1)
            throw new InvalidOperationException("Folding did not end in a single root fold; the region graph is malformed.");

        int replicas = graph.Replicas;
        var rows = inputRegions.Select(r => r.Scope.Select(v => v * replicas + r.Replica).ToImmutableArray()).ToImmutableArray();
        return new CircuitPlan(graph, units, inputUnits, [.. inputRegions.Select(r => r.Id)], rows, layers.ToImmutable());
    }

    static FoldedLayerPlan MakeLayer(int index, FoldedLayerRole role, List<(int Source, int Fold)[]> inputs, int outputUnits,
        ImmutableArray<int> nodes, List<int> foldsOfSource, List<int> unitsOfSource)
    {
        int arity = inputs.Max(i => i.Length);
        var sources = inputs.SelectMany(i => i).Select(t => t.Source).Distinct().Order().ToImmutableArray();
        var offsets = new Dictionary<int, int>();
        int total = 0;
        foreach (int s in sources) { offsets[s] = total; total += foldsOfSource[s]; }

        var widths = sources.Select(s => unitsOfSource[s]).Distinct().ToList();
        if (widths.Count != 1)
            throw new ArgumentException(
                $"Folded layer {index} combines input regions (K_in units) with inner regions (K units); " +
                "with this region graph K_in (InputUnits) must equal K (Units).", "InputUnits");

        var gather = ImmutableArray.CreateBuilder<int>(inputs.Count * arity);
        var mask = ImmutableArray.CreateBuilder<bool>(inputs.Count * arity);
        foreach (var fold in inputs)
        {
            for (int h = 0; h < arity; h++)
            {
                bool real = h < fold.Length;
                gather.Add(real ? offsets[fold[h].Source] + fold[h].Fold : total);
                mask.Add(real);
            }
        }
        return new FoldedLayerPlan(index, role, inputs.Count, arity, widths[0], outputUnits, sources,
            [.. sources.Select(s => foldsOfSource[s])], gather.MoveToImmutable(), mask.MoveToImmutable(),
            [.. inputs.Select(i => i.Length)], nodes);
    }

    /// <summary>The region-graph layers, from the inputs to the root: (partitions, the regions they decompose).</summary>
    public static List<(List<Partition> Partitions, List<Region> Regions)> TopDownLayers(RegionGraph graph)
    {
        var inner = graph.InnerRegions.OrderBy(r => r, RegionOrder.Instance).ToList();
        var pendingConsumers = graph.Regions.Select(r => r.Consumers.Length).ToArray();
        var visitedRegion = new bool[graph.Regions.Length];
        var layers = new List<(List<Partition>, List<Region>)>();
        int remaining = inner.Count;
        while (remaining > 0)
        {
            var regionLayer = inner.Where(r => !visitedRegion[r.Id] && pendingConsumers[r.Id] == 0).ToList();
            if (regionLayer.Count == 0)
                throw new InvalidOperationException("The region graph has a cycle.");
            foreach (var r in regionLayer) visitedRegion[r.Id] = true;
            remaining -= regionLayer.Count;
            var partitionLayer = regionLayer.SelectMany(r => r.Partitions).Select(p => graph.Partitions[p])
                .OrderBy(p => p, Comparer<Partition>.Create((a, b) => CompareNodes(graph.Regions[a.Output].Scope, a.Id, graph.Regions[b.Output].Scope, b.Id)))
                .ToList();
            foreach (var p in partitionLayer)
                foreach (int input in p.Inputs)
                    pendingConsumers[input]--;
            layers.Add((partitionLayer, regionLayer));
        }
        layers.Reverse();
        return layers;
    }

    static int CompareNodes(ImmutableArray<int> scopeA, int idA, ImmutableArray<int> scopeB, int idB)
    {
        int c = RegionGraph.CompareScopes(scopeA, scopeB);
        return c != 0 ? c : idA.CompareTo(idB);
    }

    sealed class RegionOrder : IComparer<Region>
    {
        public static readonly RegionOrder Instance = new();
        public int Compare(Region? a, Region? b) => CompareNodes(a!.Scope, a.Id, b!.Scope, b.Id);
    }
}
