namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Rules for the names a manifest uses as keys (sources, sinks, tables, operators): 1 to <see cref="MaxLength"/>
/// characters without control characters. Names are JSON keys only and never become paths.
/// </summary>
public static class ManifestNames
{
    /// <summary>The longest allowed name.</summary>
    public const int MaxLength = 256;

    /// <summary>The longest allowed text value (table text positions, sink failure messages).</summary>
    public const int MaxTextLength = 4096;

    /// <summary>Whether <paramref name="name"/> is a valid manifest key.</summary>
    /// <param name="name">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws when <paramref name="name"/> is not a valid manifest key.</summary>
    /// <param name="name">The candidate.</param>
    /// <param name="kind">What the name names (for example "source"), for the message.</param>
    /// <param name="paramName">The parameter to report.</param>
    /// <exception cref="ArgumentException">The name is empty, too long or holds control characters; the message quotes it.</exception>
    public static void Validate(string? name, string kind, string paramName)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException(
                $"Invalid {kind} name '{name}': use 1-{MaxLength} characters without control characters.",
                paramName);
        }
    }
}
