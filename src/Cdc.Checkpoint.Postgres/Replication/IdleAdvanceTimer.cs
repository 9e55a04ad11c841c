using Cdc.Checkpoint.Postgres.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// The session's idle-advance timer: every interval while the stream is confirmed, one
/// <see cref="ReplicationAcknowledger.TryIdleAdvanceAsync"/> (never two at once; a tick while one saves is skipped).
/// </summary>
/// <remarks>Starts when created; <see cref="DisposeAsync"/> stops it and may be called any number of times, from any thread.</remarks>
internal sealed class IdleAdvanceTimer : IAsyncDisposable
{
    private readonly ReplicationAcknowledger _acknowledger;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private ITimer? _timer;
    private Task _running = Task.CompletedTask; // the advance in flight (or the last one)
    private int _busy;

    internal IdleAdvanceTimer(ReplicationAcknowledger acknowledger, TimeSpan interval, TimeProvider timeProvider, ILogger logger)
    {
        _acknowledger = acknowledger;
        _logger = logger;
        _timer = timeProvider.CreateTimer(_ => OnTick(), null, interval, interval);
    }

    /// <summary>Stops the timer, cancels the save of an advance in flight and waits for it to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _timer, null) is not { } timer)
        {
            await Volatile.Read(ref _running).ConfigureAwait(false);
            return;
        }

        // Disposing the timer waits for a tick in progress, so _running is final afterwards.
        await timer.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await Volatile.Read(ref _running).ConfigureAwait(false);
        _stop.Dispose();
    }

    private void OnTick()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            return; // the previous advance is still saving
        }

        Volatile.Write(ref _running, RunAsync());
    }

    private async Task RunAsync()
    {
        try
        {
            await _acknowledger.TryIdleAdvanceAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped while saving.
        }
        catch (ObjectDisposedException)
        {
            // Stopped between the tick and the save.
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
        {
            Log.IdleAdvanceFailed(_logger, _acknowledger.SlotName, _acknowledger.Durable.Lsn, ex);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }
}
