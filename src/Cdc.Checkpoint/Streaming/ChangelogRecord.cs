using System.Globalization;

namespace Cdc.Checkpoint.Streaming;

/// <summary>A changelog entry with the position the <see cref="StreamChangelogBuffer"/> gave it.</summary>
/// <param name="Position">The changelog position: pushes are numbered one by one, so positions delivered in order with a hole between them mean entries were missed.</param>
/// <param name="Entry">The entry.</param>
public readonly record struct ChangelogRecord(ulong Position, StreamChangelogEntry Entry)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"#{Position} {Entry}");
}

/// <summary>A half-open range of changelog positions, [<paramref name="Start"/>, <paramref name="End"/>).</summary>
/// <param name="Start">The first position in the range.</param>
/// <param name="End">One past the last position in the range.</param>
public readonly record struct ChangelogRange(ulong Start, ulong End)
{
    /// <summary>The number of positions in the range (0 when <see cref="End"/> is not after <see cref="Start"/>).</summary>
    public ulong Width => End > Start ? End - Start : 0;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{Start}, {End})");
}
