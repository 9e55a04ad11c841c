using System.Text.RegularExpressions;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

/// <summary>
/// The snippet of docs/cursor.md, compiled and run here; the docs must hold exactly the text between
/// <c>// snippet: cursor-quickstart</c> and <c>// end snippet</c> below (re-indented).
/// </summary>
public sealed partial class CursorDocsSnippetTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

#pragma warning disable CA1849, CA2007 // written as a user writes it
    private static async Task QuickStartAsync(StreamChangelogBuffer changelog, string directory, List<ulong> handled, CancellationToken stoppingToken)
    {
        // snippet: cursor-quickstart
        using var store = new FileCheckpoint(directory);   // or a table store, a manifest store: any ICheckpointStore
        var start = await store.LoadCursorAsync("orders-projector", stoppingToken)
                    ?? CursorCheckpoint.NotStarted("orders-projector");
        var cursor = new ChangelogCursor(changelog, start);

        while (true)
        {
            var batch = await cursor.PollBatchAsync(256, TimeSpan.FromSeconds(1), stoppingToken);
            foreach (var gap in batch.Gaps)
            {
                Console.WriteLine($"missed {gap}");        // overwritten, dropped, popped or cancelled entries
            }

            foreach (var record in batch.Records)
            {
                handled.Add(record.Position);               // your idempotent handler of record.Entry
            }

            if (!batch.IsEmpty)
            {
                await store.SaveCursorAsync(cursor.Checkpoint, stoppingToken);  // after the side effects, before the next poll
            }
        }
        // end snippet
    }
#pragma warning restore CA1849, CA2007

    [Fact]
    public void Docs_CursorSnippet_IsTheCodeCompiledHere()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Cdc.sln")))
        {
            root = Path.GetDirectoryName(root).ShouldNotBeNull("the repository root (Cdc.sln) above the test assembly");
        }

        var docs = File.ReadAllText(Path.Combine(root, "docs", "cursor.md")).ReplaceLineEndings("\n");
        var source = File.ReadAllText(Path.Combine(root, "tests", "Cdc.Checkpoint.Tests", "Cursors", "CursorDocsSnippetTests.cs")).ReplaceLineEndings("\n");
        var documented = DocsSnippet().Match(docs);
        documented.Success.ShouldBeTrue("docs/cursor.md has no cursor-quickstart snippet");
        var code = SourceSnippet().Match(source).Groups["code"].Value.Split('\n').Select(line => line.Length >= 8 ? line[8..] : line.TrimStart());
        documented.Groups["code"].Value.ShouldBe(string.Join('\n', code));
    }

    [Fact]
    public async Task QuickStartSnippet_DeliversSavesAndResumesAfterTheSavedPosition()
    {
        var changelog = new StreamChangelogBuffer(64, ChangelogOverflowPolicy.OverwriteOldest);
        for (ulong s = 0; s < 10; s++)
        {
            changelog.TryPush(new StreamChangelogEntry(1, StreamChangeOp.Insert, s, 0));
        }

        var handled = new List<ulong>();
        await RunUntilSavedAsync(changelog, handled, lastPosition: 9);
        handled.ShouldBe([0UL, 1UL, 2UL, 3UL, 4UL, 5UL, 6UL, 7UL, 8UL, 9UL]);

        // A restart: the same store, more entries; the snippet resumes after position 9.
        for (ulong s = 10; s < 13; s++)
        {
            changelog.TryPush(new StreamChangelogEntry(1, StreamChangeOp.Insert, s, 0));
        }

        var resumed = new List<ulong>();
        await RunUntilSavedAsync(changelog, resumed, lastPosition: 12);
        resumed.ShouldBe([10UL, 11UL, 12UL]);
    }

    private async Task RunUntilSavedAsync(StreamChangelogBuffer changelog, List<ulong> handled, ulong lastPosition)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = QuickStartAsync(changelog, _dir.Path, handled, stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using (var check = new FileCheckpoint(_dir.Path))
            {
                if ((await check.LoadCursorAsync("orders-projector", Ct))?.Position == lastPosition)
                {
                    break;
                }
            }

            running.IsCompleted.ShouldBeFalse(running.Exception?.ToString());
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the snippet did not save its position");
            await Task.Delay(20, Ct);
        }

        await stop.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => running);
    }

    [GeneratedRegex(@"<!-- snippet: cursor-quickstart -->\n```csharp\n(?<code>.*?)\n```\n<!-- end snippet -->", RegexOptions.Singleline)]
    private static partial Regex DocsSnippet();

    [GeneratedRegex(@"// snippet: cursor-quickstart\n(?<code>.*?)\n\s*// end snippet", RegexOptions.Singleline)]
    private static partial Regex SourceSnippet();
}
