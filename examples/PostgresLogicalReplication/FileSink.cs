using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;

namespace PostgresLogicalReplication;

/// <summary>
/// The file sink: one line per row, <c>id TAB payload TAB commit-LSN</c> (the LSN of the transaction's commit record,
/// known from its Begin message). Exactly once with a FileCheckpoint: lines are fsynced before the checkpoint that
/// covers them is saved, and at start every line the checkpoint does not cover (commit LSN at or past the checkpoint's
/// LSN: written, but not checkpointed before a crash) is cut off, because the stream delivers those transactions again.
/// </summary>
internal sealed partial class FileSink : IDisposable
{
    public const string FileName = "sink.tsv";

    private readonly FileStream _stream;
    private readonly StringBuilder _pending = new();

    private FileSink(FileStream stream) => _stream = stream;

    public static FileSink Open(string directory, NpgsqlLogSequenceNumber checkpointLsn)
    {
        var path = Path.Combine(directory, FileName);
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path);
            var kept = new StringBuilder();
            var cut = 0;
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i];
                var last = i == lines.Length - 1;
                if (last && line.Length == 0)
                {
                    break;
                }

                // A last line without its newline was torn by the crash; it is never covered by a checkpoint.
                if (last || !TryParse(line, out _, out var lsn))
                {
                    if (!last)
                    {
                        throw new InvalidDataException($"{path} line {i + 1} is not 'id<TAB>payload<TAB>lsn': '{line}'.");
                    }

                    cut++;
                    continue;
                }

                // A checkpoint at LSN c covers exactly the transactions whose commit record starts before c: it is the end
                // of the last one processed (or an idle position no later transaction precedes).
                if (lsn < checkpointLsn)
                {
                    kept.Append(line).Append('\n');
                }
                else
                {
                    cut++;
                }
            }

            if (cut > 0)
            {
                ReplaceDurably(path, kept.ToString());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sink: cut {cut} line(s) past the checkpoint {checkpointLsn}; they are delivered again"));
            }
        }

        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, FileOptions.None);
        return new FileSink(stream);
    }

    public static IReadOnlyList<long> ReadIds(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path)
            ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => TryParse(l, out var id, out _) ? id : throw new InvalidDataException(l)).ToList()
            : [];
    }

    public void Append(long id, string payload, NpgsqlLogSequenceNumber commitLsn) =>
        _pending.Append(CultureInfo.InvariantCulture, $"{id}\t{payload.Replace('\t', ' ').Replace('\n', ' ')}\t{commitLsn}\n");

    /// <summary>Writes the pending lines and fsyncs them; returns only when they are durable.</summary>
    public void Flush()
    {
        if (_pending.Length > 0)
        {
            _stream.Write(Encoding.UTF8.GetBytes(_pending.ToString()));
            _pending.Clear();
        }

        _stream.Flush();
        Fsync(_stream.SafeFileHandle.DangerousGetHandle().ToInt32(), _stream.Name);
    }

    public void Dispose() => _stream.Dispose();

    private static bool TryParse(string line, out long id, out NpgsqlLogSequenceNumber lsn)
    {
        id = 0;
        lsn = default;
        var fields = line.Split('\t');
        return fields.Length == 3
            && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && PostgresOffset.TryParseLsn(fields[2], out lsn);
    }

    // .NET's Flush(true) does not report fsync errors on Linux; call fsync(2) and check it.
    private static void ReplaceDurably(string path, string content)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.UTF8.GetBytes(content));
            stream.Flush();
            Fsync(stream.SafeFileHandle.DangerousGetHandle().ToInt32(), temp);
        }

        File.Move(temp, path, overwrite: true);
        var directory = Path.GetDirectoryName(path)!;
        var fd = Open(directory, 0x10000 /* O_DIRECTORY */);
        if (fd < 0)
        {
            throw new IOException($"open({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            Fsync(fd, directory);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static void Fsync(int fd, string what)
    {
        int result;
        do
        {
            result = FsyncNative(fd);
        }
        while (result != 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */);

        if (result != 0)
        {
            throw new IOException($"fsync({what}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncNative(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
