namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Rules for source type names. A source type becomes part of a file name (<c>checkpoint_{source}.json</c>), so
/// only lower-case ASCII letters, digits and underscores are allowed, starting with a letter, at most 64 characters:
/// a name can never leave its directory.
/// </summary>
public static class SourceTypeName
{
    /// <summary>The suffix that marks the snapshot phase of a source family (<c>postgres_snapshot</c>).</summary>
    public const string SnapshotSuffix = "_snapshot";

    /// <summary>The longest allowed source type name.</summary>
    public const int MaxLength = 64;

    /// <summary>Whether <paramref name="sourceType"/> is a valid source type name.</summary>
    /// <param name="sourceType">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValid(string? sourceType)
    {
        if (string.IsNullOrEmpty(sourceType) || sourceType.Length > MaxLength || sourceType[0] is < 'a' or > 'z')
        {
            return false;
        }

        foreach (var c in sourceType)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws when <paramref name="sourceType"/> is not valid.</summary>
    /// <param name="sourceType">The candidate.</param>
    /// <param name="paramName">The parameter name to report.</param>
    /// <exception cref="ArgumentException">The name is not valid; the message quotes it and states the rule.</exception>
    public static void Validate(string? sourceType, string paramName = "sourceType")
    {
        if (!IsValid(sourceType))
        {
            throw new ArgumentException(
                $"Invalid source type '{sourceType}': use 1-{MaxLength} lower-case ASCII letters, digits or '_', starting with a letter (for example 'postgres' or 'mysql').",
                paramName);
        }
    }

    /// <summary>The family of a source type: the name without its <c>_snapshot</c> suffix.</summary>
    /// <param name="sourceType">A source type.</param>
    /// <returns>The family name.</returns>
    public static string FamilyOf(string sourceType)
    {
        ArgumentNullException.ThrowIfNull(sourceType);
        return sourceType.EndsWith(SnapshotSuffix, StringComparison.Ordinal) && sourceType.Length > SnapshotSuffix.Length
            ? sourceType[..^SnapshotSuffix.Length]
            : sourceType;
    }
}
