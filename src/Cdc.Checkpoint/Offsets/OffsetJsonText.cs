using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Cdc.Checkpoint.Internal;

namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Helpers for codecs that read untrusted offset JSON. A <see cref="JsonDocument"/> accepts strings that are valid JSON
/// but not valid Unicode — an escaped lone surrogate such as <c>"\ud800"</c>, or bytes that are not UTF-8 — and
/// decoding them later (<see cref="JsonElement.GetString"/>, <see cref="JsonProperty.Name"/>,
/// <see cref="JsonElement.GetRawText"/>) throws <see cref="InvalidOperationException"/>, which a codec must turn into
/// the <see cref="FormatException"/> it promises. Public for the authors of <see cref="IOffsetCodec"/>s: the PostgreSQL and
/// MySQL/MariaDB packages read their offsets with it, and a codec of your own should too.
/// </summary>
public static class OffsetJsonText
{
    /// <summary>
    /// <paramref name="text"/> in single quotes for an error message, shortened to its first 200 characters (with its
    /// length) when it is longer: offset JSON in a message names the value without flooding a log.
    /// </summary>
    public static string Quote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return GenericOffset.Quote(text);
    }

    /// <summary>What a message says about text that cannot be decoded.</summary>
    public const string NotUnicode = "is not valid Unicode text (it holds a lone UTF-16 surrogate escape such as \\ud800, or bytes that are not UTF-8)";

    /// <summary>
    /// <see cref="JsonDocument.Parse(string, JsonDocumentOptions)"/> with the library's strict rules
    /// (<see cref="StrictJson"/>: a repeated member is malformed), except that text holding a lone surrogate
    /// character (which the parser refuses with <see cref="ArgumentException"/>, as it cannot be turned into UTF-8) is
    /// malformed JSON like any other: a <see cref="JsonException"/>.
    /// </summary>
    public static JsonDocument Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return StrictJson.Parse(json);
        }
        catch (ArgumentException ex)
        {
            throw new JsonException($"The text is not valid UTF-16: it holds a lone surrogate character. {ex.Message}", ex);
        }
    }

    /// <summary>The raw JSON text of <paramref name="value"/>; never throws (bytes that are not UTF-8 show as U+FFFD).</summary>
    public static string RawText(JsonElement value) => Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8Value(value));

    /// <summary>The raw JSON text of <paramref name="value"/>, quoted and shortened for a message; never throws.</summary>
    public static string QuoteRaw(JsonElement value) => GenericOffset.Quote(RawText(value));

    /// <summary>
    /// Finds the first member name or string value, at any depth, that cannot be decoded.
    /// </summary>
    /// <returns>
    /// <see langword="null"/> when everything decodes; otherwise the place, ready for "… <see cref="NotUnicode"/>":
    /// <c>'slot_name'</c> for a string value, <c>the member name '\ud800'</c> for a name.
    /// </returns>
    public static string? FindUndecodable(JsonElement value) => Find(value, path: null);

    private static string? Find(JsonElement value, string? path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return CanDecode(value) ? null : path is null ? "the string" : GenericOffset.Quote(path);
            case JsonValueKind.Object:
                foreach (var property in value.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        var raw = GenericOffset.Quote(Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8PropertyName(property)));
                        return path is null ? $"the member name {raw}" : $"the member name {raw} in {GenericOffset.Quote(path)}";
                    }

                    if (Find(property.Value, path is null ? name : $"{path}.{name}") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (Find(item, $"{path ?? "$"}[{index}]") is { } found)
                    {
                        return found;
                    }

                    index++;
                }

                return null;
            default:
                return null;
        }
    }

    private static bool CanDecode(JsonElement text)
    {
        try
        {
            _ = text.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
