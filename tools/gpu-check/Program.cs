using System.Runtime.CompilerServices;
using GpuCheck;

// The engine's process tuning (OpenMP wait policy, malloc) must run before anything loads libtorch, as in `circuits`.
RuntimeHelpers.RunModuleConstructor(typeof(Microsoft.ML.Circuits.CircuitDescription).Module.ModuleHandle);

const string Usage = """
    gpu-check: the GPU check's program (tools/gpu-check/README.md).
      gpu-check info                        whether TorchSharp sees CUDA, and the devices
      gpu-check tests [--class NAME]...     the [TestMethod]s of the CUDA test classes (default: GpuTests), by reflection
                      [--list]              list them instead of running them
      gpu-check circuits ARGS...            the `circuits` command line in this process (e.g. circuits bench --device cuda)
    """;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Out.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
return args[0] switch
{
    "info" => Info.Run(),
    "tests" => TestRunner.Run(args[1..]),
    "circuits" => CircuitsCli.Run(args[1..]),
    _ => Fail($"unknown command '{args[0]}'.\n{Usage}"),
};

static int Fail(string message)
{
    Console.Error.WriteLine($"error: {message}");
    return 2;
}
