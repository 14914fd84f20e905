using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Circuits;
using Microsoft.ML.Circuits.Training;

namespace Circuits.Cli;

/// <summary>
/// <c>train</c>: the original <c>training.py</c>. Trains a circuit with Adam and early stopping, saves the best model
/// to <c>&lt;model-dir&gt;/models/&lt;dataset&gt;/&lt;rg&gt;/&lt;layer&gt;/&lt;input-type&gt;/&lt;reparam&gt;/k_&lt;K&gt;/lr_&lt;lr&gt;/b_&lt;B&gt;/&lt;dd_MM_yyyy_HH_mm_ss&gt;.zip</c>
/// (an ML.NET model zip; and a JSON-lines log under <c>&lt;model-dir&gt;/logs/</c> on the same path), and prints the best train / valid / test bpd.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var circuit = new CircuitOptions();
        var training = new TrainingOptions();
        var modelDir = new Option<string>("--model-dir") { Description = "Output folder", DefaultValueFactory = _ => "out" };
        var command = new Command("train", "Train a circuit on mnist, fashion_mnist or celeba and report bits per dimension.");
        circuit.AddTo(command);
        training.AddTo(command);
        command.Add(modelDir);
        command.SetAction(result => Cli.Run(() =>
        {
            var description = circuit.Describe(result);
            string root = result.GetValue(modelDir)!;
            Paths.RequireFolder(root, "--model-dir");
            string dataset = Microsoft.ML.Circuits.Data.Datasets.Normalize(result.GetValue(circuit.Dataset)!);
            var device = training.ResolveDevice(result);
            var options = training.Trainer(result, description.RegionGraph, device);
            Memory.RequireTrainingFits(description, options.BatchSize, device);
            var data = training.LoadData(result, dataset, description);

            string stamp = DateTime.Now.ToString("dd_MM_yyyy_HH_mm_ss", CultureInfo.InvariantCulture);
            string relative = Path.Combine(dataset, Names.Of(description.RegionGraph), Names.Of(description.Layer), "cat",
                Names.Of(description.Reparameterization), $"k_{description.Units}", $"lr_{TrainingOptions.Format(options.LearningRate)}", $"b_{options.BatchSize}");
            var (modelPath, claimed) = Claim(Path.Combine(root, "models", relative), Path.Combine(root, "logs", relative), stamp);
            using var log = claimed;

            using var model = new TensorizedCircuit(description, seed: options.Seed, device: device);
            Console.WriteLine($"circuit:    {description}");
            Console.WriteLine($"parameters: {model.ParameterCount.Total.ToString("N0", CultureInfo.InvariantCulture)} ({model.ParameterCount.Trainable.ToString("N0", CultureInfo.InvariantCulture)} trainable)");
            Console.WriteLine($"model:      {modelPath}");
            var report = TrainingRun.Run(model, data, options, result.GetValue(training.ProgressBar), log, modelPath,
                (best, _) => ModelFiles.Save(best, new ModelMetadata(), modelPath));
            ModelFiles.Save(model, new ModelMetadata { Training = report }, modelPath);
            log.ModelSaved();
            TrainingRun.Finish(report, modelPath);
        }));
        return command;
    }

    /// <summary>
    /// Claims the run's file names: <c>&lt;stamp&gt;</c>, else <c>&lt;stamp&gt;_1</c>, <c>_2</c>, … — the first whose model does
    /// not exist and whose log this run creates exclusively. Two runs started in the same second get different names, and
    /// no run writes another's model or log.
    /// </summary>
    static (string ModelPath, RunLog Log) Claim(string modelFolder, string logFolder, string stamp)
    {
        for (int n = 0; n < 10_000; n++)
        {
            string name = n == 0 ? stamp : $"{stamp}_{n}";
            string modelPath = Path.Combine(modelFolder, name + ModelFiles.Extension);
            if (File.Exists(modelPath) || Directory.Exists(modelPath)) continue;
            if (RunLog.TryCreateNew(Path.Combine(logFolder, name + ".jsonl")) is { } log)
            {
                if (!File.Exists(modelPath)) return (modelPath, log);
                log.Dispose(); // a model of that name appeared meanwhile (written by hand?): leave it and try the next name
            }
        }
        throw new IOException($"{modelFolder} already holds models for {stamp} and 9,999 suffixes; choose another --model-dir.");
    }
}
