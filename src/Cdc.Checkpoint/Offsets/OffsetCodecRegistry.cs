using System.Collections.Immutable;
using System.Text.Json;

namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Maps source types to the codecs that read them. Source types no codec claims are read as
/// <see cref="GenericOffset"/>, except the core's own <c>cursor</c> source type, which every registry reads as
/// <see cref="Cursors.CursorOffset"/>. Immutable and thread-safe: <see cref="With"/> returns a new registry.
/// </summary>
/// <example><c>var codecs = OffsetCodecRegistry.Empty.With(PostgresOffset.OffsetCodec).With(MySqlOffset.OffsetCodec);</c></example>
public sealed class OffsetCodecRegistry
{
    private readonly ImmutableArray<IOffsetCodec> _codecs;

    private OffsetCodecRegistry(ImmutableArray<IOffsetCodec> codecs) => _codecs = codecs;

    /// <summary>A registry with no codecs: every source type reads as <see cref="GenericOffset"/>.</summary>
    public static OffsetCodecRegistry Empty { get; } = new(ImmutableArray<IOffsetCodec>.Empty);

    /// <summary>The registered codecs, in the order they are asked.</summary>
    public ImmutableArray<IOffsetCodec> Codecs => _codecs;

    /// <summary>Returns a registry that also knows <paramref name="codec"/>; the most recently added codec is asked first.</summary>
    /// <param name="codec">The codec to add.</param>
    /// <returns>The new registry, or this one when the codec is already registered.</returns>
    public OffsetCodecRegistry With(IOffsetCodec codec)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (codec is GenericOffsetCodec || _codecs.Contains(codec))
        {
            return this;
        }

        return new OffsetCodecRegistry(_codecs.Insert(0, codec));
    }

    /// <summary>
    /// The codec for <paramref name="sourceType"/>: a registered one, else the cursor codec for <c>cursor</c>, else
    /// <see cref="GenericOffsetCodec"/>.
    /// </summary>
    /// <param name="sourceType">The source type.</param>
    /// <returns>The codec.</returns>
    public IOffsetCodec Resolve(string sourceType)
    {
        foreach (var codec in _codecs)
        {
            if (codec.CanRead(sourceType))
            {
                return codec;
            }
        }

        // The core's cursor offset needs no registration: any store can hold a cursor position and read it back typed.
        return Cursors.CursorOffsetCodec.Instance.CanRead(sourceType) ? Cursors.CursorOffsetCodec.Instance : GenericOffsetCodec.Instance;
    }

    /// <summary>Reads an offset with the codec for <paramref name="sourceType"/>.</summary>
    /// <param name="sourceType">The source type.</param>
    /// <param name="offset">The offset JSON.</param>
    /// <param name="formatVersion">The format version of the record that held it.</param>
    /// <returns>The typed offset.</returns>
    /// <exception cref="FormatException">The JSON is not a valid offset of that source type.</exception>
    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion)
    {
        try
        {
            return Resolve(sourceType).Read(sourceType, offset, formatVersion);
        }
        catch (InvalidOperationException ex)
        {
            // JsonElement.GetString() throws this for a string holding an escaped lone surrogate or bytes that are not
            // UTF-8 (found by fuzzing); codecs promise FormatException for bad JSON. The codecs of this repository check
            // for such text first (OffsetJsonText.FindUndecodable); this keeps the promise for codecs that do not.
            throw new FormatException($"The {sourceType} offset JSON holds a string that cannot be decoded: {ex.Message}", ex);
        }
    }
}
