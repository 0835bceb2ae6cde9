using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// The stored rows of a multipoint layer decoded to one int8 code per element, decoded again only when the
    /// stored bytes change. The multipoint kernels receive their weights with every call, not at construction, so
    /// what the fast paths derive from them (packed rows, the int32 bound) is rebuilt on the first call and
    /// whenever a call brings different bytes; comparing the bytes costs far less than the layer itself.
    /// Buffers are sized at construction; <see cref="Update"/> allocates nothing.
    /// </summary>
    internal sealed class MultipointCodes
    {
        private readonly MultipointRows rows;
        private readonly byte[] stored;
        private bool decoded;

        public MultipointCodes(MultipointRows rows, int rowLength)
        {
            this.rows = rows;
            stored = new byte[rows.StoredLength(rowLength)];
            Codes = new sbyte[checked(rows.Rows * rowLength)];
        }

        /// <summary>[Rows, rowLength] codes of the weights last given to <see cref="Update"/>.</summary>
        public sbyte[] Codes { get; }

        /// <summary>True when <paramref name="weights"/> differ from the previous call's: <see cref="Codes"/> were decoded again.</summary>
        public bool Update(ReadOnlySpan<byte> weights)
        {
            if (decoded && weights.SequenceEqual(stored))
            {
                return false;
            }

            weights.CopyTo(stored);
            rows.Decode(weights, Codes);
            decoded = true;
            return true;
        }
    }
}
