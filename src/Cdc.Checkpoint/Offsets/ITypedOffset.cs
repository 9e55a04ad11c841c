namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Implemented by concrete offset types so generic code can find their codec without an instance, for example
/// <c>checkpoint.LoadAsync&lt;PostgresOffset&gt;()</c>.
/// </summary>
/// <typeparam name="TSelf">The offset type itself.</typeparam>
public interface ITypedOffset<TSelf>
    where TSelf : CheckpointOffset, ITypedOffset<TSelf>
{
    /// <summary>The codec that reads offsets of this type.</summary>
    static abstract IOffsetCodec OffsetCodec { get; }
}
