using System.Reflection;

namespace GpuCheck;

/// <summary>Runs the <c>circuits</c> command line (examples/Circuits.Cli) in this process, through its entry point.</summary>
internal static class CircuitsCli
{
    public static int Run(string[] args)
    {
        var entry = Assembly.Load("circuits").EntryPoint
                    ?? throw new InvalidOperationException("circuits.dll has no entry point.");
        object?[] parameters = entry.GetParameters().Length == 0 ? [] : [args];
        var result = TestRunner.Call(null, entry, parameters);
        return result is int code ? code : 0;
    }
}
