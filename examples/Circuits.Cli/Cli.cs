namespace Circuits.Cli;

/// <summary>Runs a command body and turns expected failures into a one-line error and an exit code.</summary>
internal static class Cli
{
    /// <summary>Exit code for bad options or input.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code for failures while running (I/O, corrupt files, numerical problems).</summary>
    public const int RuntimeError = 1;

    // Library option names → the command-line flags that set them.
    static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["Units"] = "--k", ["InputUnits"] = "--k-in", ["Rank"] = "--rank", ["rank"] = "--rank", ["ImageHeight"] = "--image-size",
        ["ImageWidth"] = "--image-size", ["Channels"] = "--channels", ["PoonDomingosDelta"] = "--pd-delta", ["delta"] = "--pd-delta",
        ["Replicas"] = "--num-replica", ["layer"] = "--layer",
    };

    public static int Run(Action body)
    {
        try
        {
            body();
            return 0;
        }
        catch (ArgumentException e)
        {
            string flag = e.ParamName is { } name && Flags.TryGetValue(name, out var f) ? $" [{f}]" : "";
            Console.Error.WriteLine($"error: {Plain(e)}{flag}");
            return UsageError;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return RuntimeError;
        }
    }

    /// <summary>An argument exception's message without .NET's "(Parameter 'x')" and "Actual value was" suffixes.</summary>
    public static string Plain(ArgumentException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut >= 0 ? message[..cut] : message.Split('\n')[0];
    }
}
