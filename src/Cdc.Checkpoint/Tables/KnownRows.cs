using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// What a table store last wrote to (or found in) each of its rows, by source type: what lets a save be one conditional
/// statement. Forgotten whenever the row may have changed without this instance knowing. Thread-safe.
/// </summary>
internal sealed class KnownRows
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, KnownRow> _rows = new(StringComparer.Ordinal);

    public bool TryGet(string sourceType, out KnownRow row)
    {
        lock (_gate)
        {
            return _rows.TryGetValue(sourceType, out row!);
        }
    }

    public void Remember(CheckpointOffset offset, ulong committedEventCount, string offsetJson)
    {
        lock (_gate)
        {
            _rows[offset.SourceType] = new KnownRow(offset, committedEventCount, offsetJson);
        }
    }

    public void Forget(string sourceType)
    {
        lock (_gate)
        {
            _rows.Remove(sourceType);
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _rows.Clear();
        }
    }
}

/// <summary>What a row holds, as this instance knows it.</summary>
/// <param name="Offset">The offset.</param>
/// <param name="Count">The committed event count.</param>
/// <param name="Json">The offset JSON text exactly as stored (the one-statement save compares it).</param>
internal sealed record KnownRow(CheckpointOffset Offset, ulong Count, string Json);
