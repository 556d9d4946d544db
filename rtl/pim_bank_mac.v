// pim_bank_mac: the MAC unit next to one DRAM bank in an AiM / HBM-PIM style processing-in-memory
// device (Lee et al., ISSCC 2022 GDDR6-AiM; Kwon et al., ISSCC 2021 HBM2-PIM).  The bank's row
// buffer streams one column burst per beat -- LANES weights of W_BITS -- and the channel's global
// buffer broadcasts the matching LANES activations of the input vector to every bank.  The unit
// multiplies lane by lane, reduces the products with an adder tree and accumulates one output
// element of a GEMV (y[r] = sum_c W[r][c] * x[c]) over the row's bursts:
//     beat with first: acc  = dot(weights, vec)          (a new output row)
//     other beats:     acc  = wrap(acc + dot(weights, vec), ACC_BITS)
//     beat with last:  out_data <= that acc, out_valid high for one cycle
// col_valid = 0 beats are stalls (tCCD gaps, row activations) and change nothing.  The dot product
// of a burst is exact (A_BITS + W_BITS + log2(LANES) bits); only the accumulator wraps.
// Reference: sim.kernels.pim_bank_dot / pim_gemv.
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module pim_bank_mac #(
    parameter LANES    = 16,
    parameter A_BITS   = 8,
    parameter W_BITS   = 8,
    parameter ACC_BITS = 32
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire                       col_valid,
    input  wire                       col_first,
    input  wire                       col_last,
    input  wire [LANES*W_BITS-1:0]    col_data,   // row-buffer burst: lane l at [l*W_BITS +: W_BITS]
    input  wire [LANES*A_BITS-1:0]    vec_data,   // broadcast activations: lane l at [l*A_BITS +: A_BITS]
    output reg                        out_valid,
    output reg  signed [ACC_BITS-1:0] out_data
);
    localparam P_BITS = A_BITS + W_BITS;
    localparam D_BITS = P_BITS + $clog2(LANES);

    reg signed [D_BITS-1:0] dot;
    reg signed [A_BITS-1:0] x;
    reg signed [W_BITS-1:0] w;
    reg signed [P_BITS-1:0] p;
    integer l;
    always @(*) begin
        dot = {D_BITS{1'b0}};
        for (l = 0; l < LANES; l = l + 1) begin
            x = vec_data[l*A_BITS +: A_BITS];
            w = col_data[l*W_BITS +: W_BITS];
            p = x * w;
            dot = dot + p;
        end
    end

    reg  signed [ACC_BITS-1:0] acc;
    wire signed [ACC_BITS-1:0] dot_ext = dot;
    wire signed [ACC_BITS-1:0] acc_nx  = (col_first ? {ACC_BITS{1'b0}} : acc) + dot_ext;

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
        end else begin
            out_valid <= col_valid & col_last;
            if (col_valid) begin
                acc <= acc_nx;
                if (col_last) out_data <= acc_nx;
            end
        end
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
