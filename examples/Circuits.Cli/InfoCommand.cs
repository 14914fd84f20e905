using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Structure;

namespace Circuits.Cli;

/// <summary><c>info</c>: the structure and parameter count of a circuit, without building its tensors.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var options = new CircuitOptions();
        var command = new Command("info", "Print a circuit's parameter count and folded layers (no tensors are allocated).");
        options.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = options.Describe(result);
            var plan = CircuitPlanner.Build(description);
            Print(Console.Out, description, plan);
        }));
        return command;
    }

    static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static void Print(TextWriter output, CircuitDescription description, CircuitPlan plan)
    {
        var count = ParameterCount.Of(plan, description);
        var graph = plan.Graph;
        output.WriteLine($"circuit:        {description}");
        output.WriteLine($"region graph:   {graph.Regions.Length} regions ({graph.InputRegions.Count()} input), {graph.Partitions.Length} partitions, " +
                         $"{graph.Regions.Count(r => r.Partitions.Length > 1)} regions with several partitions");
        output.WriteLine($"parameters:     {N(count.Total)} (input {N(count.Input)}, inner {N(count.Inner)}, mixing {N(count.Mixing)}" +
                         (count.Scales > 0 ? $", CP-S scales {N(count.Scales)}" : "") + ")");
        output.WriteLine($"trainable:      {N(count.Trainable)}");
        output.WriteLine($"folded layers:  {plan.Layers.Length} ({plan.RegionGraphLayers} sum-product, {plan.Layers.Length - plan.RegionGraphLayers} mixing)");
        output.WriteLine();
        output.WriteLine($"{"#",3}  {"kind",-14} {"folds",7} {"arity",6} {"in",6} {"out",6}  padded");
        string layerName = Names.Of(description.Layer) + (description.Layer == LayerKind.UncollapsedCP ? $" R={description.Rank}" : "");
        foreach (var layer in plan.Layers)
        {
            string kind = layer.Role == FoldedLayerRole.Mixing ? "mixing" : layerName;
            output.WriteLine($"{layer.Index,3}  {kind,-14} {layer.Folds,7} {layer.Arity,6} {layer.InputUnits,6} {layer.OutputUnits,6}  {(layer.IsPadded ? "yes" : "")}");
        }
    }
}
