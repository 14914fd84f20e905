using System.CommandLine;
using System.Runtime.CompilerServices;
using Circuits.Cli;

// The engine's process tuning (OpenMP wait policy, malloc) must run before anything loads libtorch (--threads does).
RuntimeHelpers.RunModuleConstructor(typeof(Microsoft.ML.Circuits.CircuitDescription).Module.ModuleHandle);

var root = new RootCommand("Tensorized probabilistic circuits (Loconte et al., TMLR): train, evaluate, compress and inspect circuits.")
{
    InfoCommand.Create(),
    BenchCommand.Create(),
    BenchTransformCommand.Create(),
    TrainCommand.Create(),
    TestCommand.Create(),
    CompressCommand.Create(),
    FinetuneCommand.Create(),
    OodCommand.Create(),
    SampleCommand.Create(),
    InpaintCommand.Create(),
    ExportOnnxCommand.Create(),
    BenchOnnxCommand.Create(),
};
var parsed = root.Parse(args);
int exitCode = parsed.Invoke();
// A command line that does not parse (a missing required option, an unknown flag) is a usage error like any other bad option.
return parsed.Errors.Count > 0 ? Cli.UsageError : exitCode;
