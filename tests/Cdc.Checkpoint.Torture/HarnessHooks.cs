using Cdc.Checkpoint.Files;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// Environment switches of the harness (never of the library): they set the library's internal test hooks in this
/// process so that a parent can aim strace at a known temp file or look at a temp file before it is renamed.
/// </summary>
public static class HarnessHooks
{
    /// <summary>Every durable write of the harness process uses this temp file name.</summary>
    public const string TempNameVariable = "CDC_TORTURE_TEMP_NAME";

    /// <summary>When "1", each durable write prints <c>temp PATH</c> after fsyncing its temp file and waits for a stdin line before renaming it.</summary>
    public const string PauseBeforeRenameVariable = "CDC_TORTURE_PAUSE_BEFORE_RENAME";

    /// <summary>Sets the hooks the environment asks for.</summary>
    public static void Install()
    {
        var tempName = Environment.GetEnvironmentVariable(TempNameVariable);
        if (!string.IsNullOrEmpty(tempName))
        {
            if (tempName.Contains('/', StringComparison.Ordinal))
            {
                throw new ArgumentException($"{TempNameVariable} must be a file name, not a path: '{tempName}'.");
            }

            DurableFile.TempNameForTests = (_, _) => tempName;
        }

        if (Environment.GetEnvironmentVariable(PauseBeforeRenameVariable) == "1")
        {
            DurableFile.BeforeRenameHook = path =>
            {
                ChildModes.Out($"temp {path}");
                if (Console.In.ReadLine() is null)
                {
                    Environment.Exit(3);
                }
            };
        }
    }
}
