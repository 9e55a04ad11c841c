using System.Text.Json;

namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Reads one kind of typed offset back from the JSON a checkpoint stored. Providers (PostgreSQL, MySQL) supply
/// one codec per kind of offset; an <see cref="OffsetCodecRegistry"/> maps source types to codecs.
/// </summary>
/// <remarks>Implementations are stateless and thread-safe.</remarks>
public interface IOffsetCodec
{
    /// <summary>
    /// Whether this codec reads offsets of <paramref name="sourceType"/> (for example <c>postgres</c> and
    /// <c>postgres_snapshot</c>).
    /// </summary>
    /// <param name="sourceType">The source type of a stored record.</param>
    /// <returns><see langword="true"/> when <see cref="Read"/> accepts that source type.</returns>
    bool CanRead(string sourceType);

    /// <summary>Reads an offset of <paramref name="sourceType"/> from its JSON object.</summary>
    /// <param name="sourceType">The record's source type.</param>
    /// <param name="offset">The <c>offset</c> JSON value of the record.</param>
    /// <param name="formatVersion">
    /// The record's format version, so a codec can read older shapes (rustcdc v1 stored the LSN as a number).
    /// </param>
    /// <returns>The typed offset.</returns>
    /// <exception cref="FormatException">The JSON does not describe a valid offset; the message quotes the bad part.</exception>
    CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion);
}
