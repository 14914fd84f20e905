using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;

namespace Circuits.Cli;

/// <summary>
/// <c>finetune</c>: the original <c>finetuning.py</c>. Trains a saved (typically compressed) model further with the
/// same loop as <c>train</c> — the clamp projection is applied once first — and writes
/// <c>&lt;model folder&gt;/&lt;name&gt;finetuned.zip</c>.
/// </summary>
internal static class FinetuneCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path") { Description = "The model zip to fine-tune", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "mnist | fashion_mnist | celeba", DefaultValueFactory = _ => "mnist" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing <name>finetuned.zip", DefaultValueFactory = _ => false };
        var training = new TrainingOptions();
        var command = new Command("finetune", "Fine-tune a saved model (e.g. after compress) and save <name>finetuned.zip next to it.") { modelPath, dataset, overwrite };
        training.AddTo(command);
        command.SetAction(result => Cli.Run(() =>
        {
            string source = result.GetValue(modelPath)!;
            Paths.RequireInputFile(source, "--model-path", "a model file (.zip)");
            string output = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(source))!, Path.GetFileNameWithoutExtension(source) + "finetuned" + ModelFiles.Extension);
            bool replace = result.GetValue(overwrite);
            if (File.Exists(output) && !replace)
                throw new IOException($"{output} already exists; it was left untouched (pass --overwrite to replace it).");
            var device = training.ResolveDevice(result);
            using var model = ModelFiles.Load(source, device);
            var description = model.Description;
            var options = training.Trainer(result, description.RegionGraph, device);
            Memory.RequireTrainingFits(description, options.BatchSize, device);
            var data = training.LoadData(result, Microsoft.ML.Circuits.Data.Datasets.Normalize(result.GetValue(dataset)!), description);
            model.Circuit.ProjectParameters();
            Console.WriteLine($"circuit:    {description}");
            Console.WriteLine($"parameters: {model.Circuit.ParameterCount.Total.ToString("N0", CultureInfo.InvariantCulture)}");
            Console.WriteLine($"model:      {output}");
            // The old log is replaced only together with the old model (at the first checkpoint of this run).
            using var log = RunLog.Open(Path.ChangeExtension(output, ".jsonl"));
            // Each file this run writes says when it was made and from which model (not the source's creation time).
            // New weights score on the fast path like any new model, even when the source predates it (read as Reference).
            ModelMetadata Made(TrainingSummary? report) => model.Metadata with
            {
                Training = report, Version = ModelMetadata.CurrentVersion, Created = DateTimeOffset.UtcNow, Source = Path.GetFullPath(source),
                Scoring = ScoringMode.Fast,
            };
            var report = TrainingRun.Run(model.Circuit, data, options, result.GetValue(training.ProgressBar), log, output,
                (best, _) => ModelFiles.Save(best, Made(null), output, overwrite: true));
            ModelFiles.Save(model.Circuit, Made(report), output, overwrite: true);
            log.ModelSaved();
            TrainingRun.Finish(report, output);
        }));
        return command;
    }
}
