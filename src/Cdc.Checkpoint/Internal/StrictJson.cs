using System.Text.Json;

namespace Cdc.Checkpoint.Internal;

/// <summary>
/// The one set of parser rules for every JSON document the library reads from disk or from a table (records, offsets,
/// manifests; the lease, cursor and offset DTO contexts set the same rules on their source-generated serializers).
/// </summary>
/// <remarks>
/// A member that appears twice (<c>{"checkpoint_format_version":99,"checkpoint_format_version":2}</c>) is refused rather
/// than resolved "last value wins": two values for one field mean the file was damaged or forged, and a reader that
/// picks one hides it. <see cref="JsonDocument"/> checks every object at every depth when
/// <see cref="JsonDocumentOptions.AllowDuplicateProperties"/> is off and reports it as a <see cref="JsonException"/>,
/// like any other malformed JSON.
/// </remarks>
internal static class StrictJson
{
    /// <summary>Nesting limit: far above any format of ours, far below what could exhaust the stack.</summary>
    public const int MaxDepth = 64;

    /// <summary>Duplicate members refused, depth capped, no comments, no trailing commas.</summary>
    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    /// <summary>Parses UTF-8 JSON with <see cref="DocumentOptions"/>.</summary>
    /// <exception cref="JsonException">Malformed JSON, including a repeated member name in any object.</exception>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8Json)
    {
        try
        {
            return JsonDocument.Parse(utf8Json, DocumentOptions);
        }
        catch (InvalidOperationException ex)
        {
            throw UndecodableName(ex);
        }
    }

    /// <summary>Parses JSON text with <see cref="DocumentOptions"/>.</summary>
    /// <exception cref="JsonException">Malformed JSON, including a repeated member name in any object.</exception>
    /// <exception cref="ArgumentException">The text holds a lone surrogate character and cannot be encoded as UTF-8.</exception>
    public static JsonDocument Parse(string json)
    {
        try
        {
            return JsonDocument.Parse(json, DocumentOptions);
        }
        catch (InvalidOperationException ex)
        {
            throw UndecodableName(ex);
        }
    }

    // The duplicate check decodes every member name, and a name holding an escaped lone surrogate ("\ud800") cannot be
    // decoded: JsonDocument then throws InvalidOperationException (found by fuzzing, tests/Cdc.Checkpoint.Proof.Tests).
    private static JsonException UndecodableName(InvalidOperationException ex) =>
        new($"A member name cannot be decoded (it holds a lone UTF-16 surrogate escape such as \\ud800): {ex.Message}", ex);
}
