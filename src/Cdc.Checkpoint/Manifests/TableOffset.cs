using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// The position of one table (for example the snapshot position of a table being backfilled): either a typed
/// <see cref="CheckpointOffset"/> or an opaque text such as a primary-key cursor.
/// </summary>
/// <remarks>Immutable and thread-safe. Equal when both hold equal offsets or equal texts.</remarks>
public sealed class TableOffset : IEquatable<TableOffset>
{
    private TableOffset(CheckpointOffset? offset, string? text)
    {
        Offset = offset;
        Text = text;
    }

    /// <summary>The typed offset, or <see langword="null"/> when this is a text position.</summary>
    public CheckpointOffset? Offset { get; }

    /// <summary>The text position, or <see langword="null"/> when this is a typed offset.</summary>
    public string? Text { get; }

    /// <summary>A table position given as a typed offset.</summary>
    /// <param name="offset">The offset.</param>
    /// <returns>The table position.</returns>
    public static TableOffset FromOffset(CheckpointOffset offset)
    {
        ArgumentNullException.ThrowIfNull(offset);
        return new TableOffset(offset, null);
    }

    /// <summary>A table position given as opaque text (at most <see cref="ManifestNames.MaxTextLength"/> characters).</summary>
    /// <param name="text">The text, for example a primary-key cursor.</param>
    /// <returns>The table position.</returns>
    /// <exception cref="ArgumentException"><paramref name="text"/> is longer than <see cref="ManifestNames.MaxTextLength"/>.</exception>
    public static TableOffset FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > ManifestNames.MaxTextLength)
        {
            throw new ArgumentException($"A table position text may hold at most {ManifestNames.MaxTextLength} characters; got {text.Length}.", nameof(text));
        }

        return new TableOffset(null, text);
    }

    /// <inheritdoc />
    public bool Equals(TableOffset? other) =>
        other is not null && Offset == other.Offset && string.Equals(Text, other.Text, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as TableOffset);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Offset, Text);

    /// <inheritdoc />
    public override string ToString() => Offset?.ToString() ?? $"'{Text}'";
}
