using System.CommandLine;
using Circuits.Cli;

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
};
return root.Parse(args).Invoke();
