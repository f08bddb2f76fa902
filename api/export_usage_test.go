package api

// AxisScale lets api_test check the chart's axis arithmetic.
var AxisScale = axisScale
