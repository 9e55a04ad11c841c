using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Manifests;

/// <summary>The committed position of one source in a manifest: its typed offset and, optionally, its event count.</summary>
/// <param name="Offset">The typed offset; stored with its source type and read back through an <see cref="OffsetCodecRegistry"/>.</param>
/// <param name="CommittedEventCount">
/// Events of this source committed up to <paramref name="Offset"/>, for sources that count them (0 when not counted).
/// </param>
public sealed record SourcePosition(CheckpointOffset Offset, ulong CommittedEventCount = 0);
