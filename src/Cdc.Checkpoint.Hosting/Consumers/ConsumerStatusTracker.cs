using Cdc.Checkpoint.Hosting.Health;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// The mutable status of one consumer, written by the consumer and read (as <see cref="ConsumerStatus"/> snapshots) by
/// health checks. The live figures (lag, age, durable checkpoint) are read from the running stream at snapshot time.
/// </summary>
internal sealed class ConsumerStatusTracker(string name, ConsumerHealthOptions health)
{
    private readonly Lock _gate = new();
    private ConsumerStatus _status = new() { Name = name, State = ConsumerState.Starting };
    private Func<ConsumerStatus, ConsumerStatus>? _live;

    public string Name { get; } = name;

    public ConsumerHealthOptions Health { get; } = health;

    public ConsumerStatus Snapshot()
    {
        Func<ConsumerStatus, ConsumerStatus>? live;
        ConsumerStatus status;
        lock (_gate)
        {
            status = _status;
            live = _live;
        }

        return live is not null && status.State == ConsumerState.Streaming ? live(status) : status;
    }

    public void Update(Func<ConsumerStatus, ConsumerStatus> change)
    {
        lock (_gate)
        {
            _status = change(_status);
        }
    }

    /// <summary>Sets (or clears) the function that adds the live figures of the running stream to a snapshot.</summary>
    public void SetLive(Func<ConsumerStatus, ConsumerStatus>? live)
    {
        lock (_gate)
        {
            _live = live;
        }
    }
}
