namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Describes the operator-state sidecar (<c>state.bin</c>) of a checkpoint: its presence in a manifest means some
/// operator state lives outside the manifest, in that file, which must have exactly this size and SHA-256 digest.
/// </summary>
/// <param name="Sha256">The SHA-256 digest of the sidecar, 64 lower-case hex digits.</param>
/// <param name="SizeBytes">The sidecar's length in bytes.</param>
public sealed record StateSidecarInfo(string Sha256, long SizeBytes)
{
    /// <summary>The sidecar's file name inside the checkpoint directory.</summary>
    public const string FileName = "state.bin";

    internal static bool IsValidDigest(string? digest)
    {
        if (digest is null || digest.Length != 64)
        {
            return false;
        }

        foreach (var c in digest)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }
}
