using System.Collections.Concurrent;
using Cdc.Checkpoint.Hosting.Health;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>The status of every hosted consumer in the process, by name (a singleton in the container). Thread-safe.</summary>
public sealed class ConsumerStatusRegistry
{
    private readonly ConcurrentDictionary<string, ConsumerStatusTracker> _trackers = new(StringComparer.Ordinal);

    /// <summary>The names of the registered consumers, sorted.</summary>
    public IReadOnlyList<string> Names => [.. _trackers.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The status of consumer <paramref name="name"/>, or <see langword="null"/> when there is no such consumer.</summary>
    /// <param name="name">The consumer name.</param>
    /// <returns>A snapshot.</returns>
    public ConsumerStatus? Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _trackers.TryGetValue(name, out var tracker) ? tracker.Snapshot() : null;
    }

    internal ConsumerStatusTracker? GetTracker(string name) => _trackers.GetValueOrDefault(name);

    internal ConsumerStatusTracker Register(string name, ConsumerHealthOptions health)
    {
        var tracker = new ConsumerStatusTracker(name, health);
        if (!_trackers.TryAdd(name, tracker))
        {
            throw new InvalidOperationException($"A hosted consumer named '{name}' is already running in this process; give each consumer its own name.");
        }

        return tracker;
    }

    internal void Unregister(ConsumerStatusTracker tracker) => _trackers.TryRemove(new KeyValuePair<string, ConsumerStatusTracker>(tracker.Name, tracker));
}
