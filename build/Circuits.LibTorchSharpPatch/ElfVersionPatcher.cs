using System.Buffers.Binary;
using System.Text;

namespace Circuits.LibTorchSharpPatch;

/// <summary>
/// Makes a 64-bit little-endian ELF shared library loadable on a system whose libstdc++ lacks one GLIBCXX version,
/// provided that no relocation binds a symbol of that version. Two edits, both idempotent:
/// every undefined dynamic symbol tagged with the missing version becomes unversioned (global), and the version's
/// entry in <c>.gnu.version_r</c> is marked weak, so the dynamic loader only warns if the version is absent.
/// </summary>
internal static class ElfVersionPatcher
{
    const uint ShtDynsym = 11;
    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Outcome of a patch attempt.</summary>
    public sealed record Result(bool Changed, bool VersionFound, IReadOnlyList<string> Symbols, string Message);

    /// <summary>Patches <paramref name="path"/> in place (through a temporary file and a rename).</summary>
    public static Result PatchFile(string path, string version)
    {
        byte[] image = File.ReadAllBytes(path);
        Result result = Patch(image, version);
        if (result.Changed)
        {
            // Write a new file and rename it over the old one: this never leaves a half-written library and breaks
            // any hard link to the NuGet cache, whose copy must stay untouched.
            string temporary = path + ".patching";
            File.WriteAllBytes(temporary, image);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temporary, File.GetUnixFileMode(path));
            File.Move(temporary, path, overwrite: true);
        }
        return result;
    }

    /// <summary>Applies the two edits to an ELF image held in memory.</summary>
    public static Result Patch(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");

        ulong sectionOffset = U64(elf, 0x28);
        int sectionSize = U16(elf, 0x3A);
        int sectionCount = U16(elf, 0x3C);
        var sections = new List<Section>(sectionCount);
        for (int i = 0; i < sectionCount; i++)
        {
            int at = checked((int)sectionOffset + i * sectionSize);
            sections.Add(new Section(U32(elf, at + 4), checked((int)U64(elf, at + 0x18)), checked((int)U64(elf, at + 0x20)),
                (int)U32(elf, at + 0x28), checked((int)U64(elf, at + 0x38))));
        }

        Section? verneed = sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
        Section? versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        Section? dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (verneed is null || versym is null || dynsym is null)
            return new Result(false, false, [], "no symbol versioning sections");

        Section verneedStrings = sections[verneed.Link];
        int versionIndex = -1;
        bool changed = false;
        int need = verneed.Offset;
        while (true)
        {
            int count = U16(elf, need + 2);
            int aux = need + (int)U32(elf, need + 8);
            for (int j = 0; j < count; j++)
            {
                string name = CString(elf, verneedStrings.Offset + (int)U32(elf, aux + 8));
                if (name == version)
                {
                    versionIndex = U16(elf, aux + 6) & 0x7fff;
                    ushort flags = (ushort)U16(elf, aux + 4);
                    if ((flags & VerFlagWeak) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(aux + 4), (ushort)(flags | VerFlagWeak));
                        changed = true;
                    }
                }
                uint nextAux = U32(elf, aux + 12);
                if (nextAux == 0) break;
                aux += (int)nextAux;
            }
            uint next = U32(elf, need + 12);
            if (next == 0) break;
            need += (int)next;
        }
        if (versionIndex < 0)
            return new Result(false, false, [], $"{version} is not required");

        Section symbolStrings = sections[dynsym.Link];
        int symbolCount = dynsym.Size / 24;
        var symbols = new List<string>();
        for (int i = 0; i < symbolCount; i++)
        {
            int entry = versym.Offset + 2 * i;
            int tag = U16(elf, entry) & 0x7fff;
            if (tag != versionIndex) continue;
            int symbol = dynsym.Offset + 24 * i;
            ushort sectionIndex = (ushort)U16(elf, symbol + 6);
            string name = CString(elf, symbolStrings.Offset + (int)U32(elf, symbol));
            if (sectionIndex != 0)
                throw new InvalidDataException($"symbol {name} is defined with version {version}; refusing to patch");
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(entry), 1);
            symbols.Add(name);
            changed = true;
        }
        return new Result(changed, true, symbols,
            changed ? $"{version} made weak; unversioned: {(symbols.Count == 0 ? "(none)" : string.Join(", ", symbols))}" : "already patched");
    }

    sealed record Section(uint Type, int Offset, int Size, int Link, int EntrySize);

    static int U16(byte[] b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at));
    static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
    static ulong U64(byte[] b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at));

    static string CString(byte[] b, int at)
    {
        int end = Array.IndexOf(b, (byte)0, at);
        return Encoding.ASCII.GetString(b, at, end - at);
    }
}
