namespace Cdc.Checkpoint.Cli;

/// <summary>The tool's exit codes; scripts depend on them, so they never change.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked (for verify: all is well).</summary>
    public const int Success = 0;

    /// <summary>The command was refused, or the data is invalid (corrupt, insecure, unsupported, lease held).</summary>
    public const int RefusedOrInvalid = 1;

    /// <summary>The command line is wrong: unknown verb, missing or malformed option.</summary>
    public const int Usage = 2;
}
