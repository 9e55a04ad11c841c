namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// A timer of the session on its <see cref="TimeProvider"/>: runs one piece of work at a time and, after each run,
/// re-arms itself at the delay the owner gives — every interval for the idle advance, and when the acknowledgement
/// state says the next status update is due for the status timer. A run is never overlapped by the next one.
/// </summary>
/// <remarks>
/// Starts when created; <see cref="DisposeAsync"/> stops it, cancels the run in flight and waits for it, and may be
/// called any number of times, from any thread. The work handles its own failures; a run that ends with
/// <see cref="OperationCanceledException"/> (stopped) or <see cref="ObjectDisposedException"/> (the connection was
/// closed under it) ends the timer.
/// </remarks>
internal sealed class SessionTimer : IAsyncDisposable
{
    private readonly Func<CancellationToken, ValueTask> _work;
    private readonly Func<TimeSpan> _nextDue;
    private readonly CancellationTokenSource _stop = new();
    private readonly ITimer _timer;
    private Task _running = Task.CompletedTask; // the run in flight (or the last one)
    private int _stopped;

    /// <summary>Creates and starts the timer.</summary>
    /// <param name="work">The work of one run.</param>
    /// <param name="nextDue">The delay until the next run, asked at the start and after each run; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    /// <param name="timeProvider">The clock.</param>
    internal SessionTimer(Func<CancellationToken, ValueTask> work, Func<TimeSpan> nextDue, TimeProvider timeProvider)
    {
        _work = work;
        _nextDue = nextDue;

        // Armed only once assigned: a timer due at once may fire before CreateTimer returns.
        _timer = timeProvider.CreateTimer(static self => ((SessionTimer)self!).OnTick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(nextDue(), Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops the timer, cancels the run in flight and waits for it to end.</summary>
    /// <returns>A task that completes when no run is in flight.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            await Volatile.Read(ref _running).ConfigureAwait(false);
            return;
        }

        // Disposing the timer waits for a tick in progress, so _running is final afterwards.
        await _timer.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await Volatile.Read(ref _running).ConfigureAwait(false);
        _stop.Dispose();
    }

    // One-shot: the timer is re-armed only when the run has ended, so runs never overlap.
    private void OnTick() => Volatile.Write(ref _running, RunAsync());

    private async Task RunAsync()
    {
        try
        {
            await _work(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return; // stopped during the run
        }
        catch (ObjectDisposedException)
        {
            return; // the connection or the acknowledger was closed under the run: the session is ending
        }

        if (Volatile.Read(ref _stopped) != 0)
        {
            return;
        }

        try
        {
            _timer.Change(_nextDue(), Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Stopped between the check and the re-arm.
        }
    }
}
