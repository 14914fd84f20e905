using System.Reflection;
using System.Runtime.ExceptionServices;

namespace GpuCheck;

/// <summary>Runs the <c>circuits</c> command line (examples/Circuits.Cli) in this process, through its entry point.</summary>
internal static class CircuitsCli
{
    public static int Run(string[] args)
    {
        var entry = Assembly.Load("circuits").EntryPoint
                    ?? throw new InvalidOperationException("circuits.dll has no entry point.");
        object?[] parameters = entry.GetParameters().Length == 0 ? [] : [args];
        object? result;
        try
        {
            result = entry.Invoke(null, parameters);
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
        if (result is Task<int> task) return task.GetAwaiter().GetResult();
        if (result is Task plain) { plain.GetAwaiter().GetResult(); return 0; }
        return result is int code ? code : 0;
    }
}
