using System.Collections.Immutable;

namespace Cdc.Checkpoint.Manifests;

/// <summary>How serious a validation finding is.</summary>
public enum ValidationSeverity
{
    /// <summary>Worth knowing (a sink still pending, a stray sidecar); the checkpoint is still usable.</summary>
    Warning = 0,

    /// <summary>The checkpoint cannot be trusted (missing or corrupt manifest, missing or damaged sidecar); recovery skips it.</summary>
    Fatal = 1,
}

/// <summary>One finding of <see cref="IManifestStore.ValidateAsync"/>.</summary>
/// <param name="Severity">Fatal or warning.</param>
/// <param name="Message">What is wrong, naming the file involved.</param>
public sealed record ValidationFinding(ValidationSeverity Severity, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Severity}: {Message}";
}

/// <summary>The outcome of validating one checkpoint.</summary>
public sealed class ManifestValidationResult
{
    internal ManifestValidationResult(ulong checkpointId, ImmutableArray<ValidationFinding> findings, CheckpointManifest? manifest)
    {
        CheckpointId = checkpointId;
        Findings = findings;
        Manifest = manifest;
    }

    /// <summary>The checkpoint validated.</summary>
    public ulong CheckpointId { get; }

    /// <summary>Every finding, fatal and warning.</summary>
    public ImmutableArray<ValidationFinding> Findings { get; }

    /// <summary>The manifest, when it could be read.</summary>
    public CheckpointManifest? Manifest { get; }

    /// <summary><see langword="true"/> when there is no fatal finding: recovery may use this checkpoint.</summary>
    public bool IsValid => Manifest is not null && !Findings.Any(f => f.Severity == ValidationSeverity.Fatal);

    /// <summary>The fatal findings joined into one reason, or an empty string.</summary>
    public string FatalReason => string.Join("; ", Findings.Where(f => f.Severity == ValidationSeverity.Fatal).Select(f => f.Message));
}
